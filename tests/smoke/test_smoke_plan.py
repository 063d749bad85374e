"""The smoke test's plan of requests, checked offline (it needs a deployed stack to run)."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("smoke", ROOT / "tests" / "smoke" / "smoke.py")
assert _spec and _spec.loader
smoke = importlib.util.module_from_spec(_spec)
sys.modules["smoke"] = smoke  # dataclasses look their module up there
_spec.loader.exec_module(smoke)


def test_every_route_gets_three_checks_and_the_alb_one() -> None:
    routes = json.loads((ROOT / "app" / "routes.json").read_text())["routes"]
    checks = smoke.plan_checks("https://api.example/v1/", "http://alb.example", "t0k")
    assert len(checks) == 3 * len(routes) + 1
    assert checks[-1].url == "http://alb.example/healthz"
    first = [c for c in checks if c.label.startswith("GET /devices/{device_id} ")]
    assert [c.url for c in first] == ["https://api.example/v1/devices/smoke-test"] * 3
    assert [c.ok for c in first] == [(401,), (403,), None]


def test_verdicts() -> None:
    check = smoke.Check("x", "GET", "u", "t", None)
    assert smoke.passed(check, 404)
    assert not smoke.passed(check, 403)
    assert not smoke.passed(check, 502)
    assert not smoke.passed(check, 0)
    assert smoke.passed(smoke.Check("x", "GET", "u", None, (401,)), 401)
    assert not smoke.passed(smoke.Check("x", "GET", "u", None, (401,)), 200)


def test_missing_outputs_name_the_fix(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    outputs = tmp_path / "outputs.json"
    outputs.write_text("{}")
    assert smoke.main(["--outputs", str(outputs)]) == 2
    assert "pulumi stack output --json" in capsys.readouterr().err
