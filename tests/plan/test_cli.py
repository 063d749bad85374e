"""`python -m plan`: files, summary, exit codes, and the `diff` dispatch."""

from __future__ import annotations

import json
import subprocess
import sys
import types
from pathlib import Path

import pytest

import plan.__main__ as cli
from plan.record import dumps, write_plan

ROOT = Path(__file__).resolve().parents[2]
MANIFEST = ROOT / "tests" / "fixtures" / "manifest.json"


def run_cli(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "plan", *argv],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )


def test_plan_writes_the_file_and_a_summary(tmp_path: Path) -> None:
    out = tmp_path / "plan-dev.json"
    result = run_cli("--stack", "dev", "--manifest", str(MANIFEST), "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert out.read_text() == (ROOT / "tests/snapshots/plan-dev.json").read_text()
    lines = result.stdout.splitlines()
    assert lines[0] == f"plan dev: {out}"
    assert any(line.split() == ["aws:lambda/function:Function", "5"] for line in lines)
    assert lines[-1].split()[:2] == ["total", str(len(json.loads(out.read_text())))]
    assert [p.name for p in tmp_path.iterdir()] == ["plan-dev.json"]


def test_several_stacks_in_one_process(tmp_path: Path) -> None:
    out = tmp_path / "plan-{stack}.json"
    result = run_cli(
        "--stack", "dev", "--stack", "prod", "--manifest", str(MANIFEST), "--out", str(out)
    )
    assert result.returncode == 0, result.stderr
    for stack in ("dev", "prod"):
        expected = (ROOT / f"tests/snapshots/plan-{stack}.json").read_text()
        assert (tmp_path / f"plan-{stack}.json").read_text() == expected
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plan-dev.json", "plan-prod.json"]


def test_several_stacks_need_stack_in_out(tmp_path: Path) -> None:
    out = tmp_path / "plan.json"
    result = run_cli("--stack", "dev", "--stack", "prod", "--out", str(out))
    assert result.returncode == 2
    assert f"--out '{out}' names one file for 2 stacks; put {{stack}} in it" in result.stderr
    assert not out.exists()


def test_unknown_stack_exits_1_with_the_known_ones(tmp_path: Path) -> None:
    result = run_cli("--stack", "qa", "--manifest", str(MANIFEST), "--out", str(tmp_path / "p"))
    assert result.returncode == 1
    assert result.stderr == (
        "plan qa: stack 'qa' has no Pulumi.qa.yaml; known stacks: dev, prod, sandbox\n"
    )
    assert not (tmp_path / "p").exists()


def test_missing_manifest_names_make_build(tmp_path: Path) -> None:
    missing = tmp_path / "manifest.json"
    out = tmp_path / "plan.json"
    result = run_cli("--stack", "dev", "--manifest", str(missing), "--out", str(out))
    assert result.returncode == 1
    assert result.stderr == (
        f"plan dev: artifact manifest {missing} not found; run `make build` to compile the "
        "Lambdas\n"
    )
    assert "Traceback" not in result.stderr
    assert not out.exists()


def test_diff_dispatches_to_plan_diff(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[list[str]] = []
    fake = types.ModuleType("plan.diff")

    def main(argv: list[str]) -> int:
        seen.append(argv)
        return 7

    fake.main = main  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "plan.diff", fake)
    monkeypatch.setattr(cli.importlib.util, "find_spec", lambda name: object())
    assert cli.main(["diff", "--stack", "dev"]) == 7
    assert seen == [["--stack", "dev"]]


def test_diff_without_module_exits_2(monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    monkeypatch.setattr(cli.importlib.util, "find_spec", lambda name: None)
    assert cli.main(["diff"]) == 2
    assert "plan/diff.py does not exist yet" in capsys.readouterr().err


def test_write_plan_is_atomic_and_replaces(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "plan.json"
    write_plan([{"name": "a"}], path)
    write_plan([{"name": "b"}], path)
    assert path.read_text() == dumps([{"name": "b"}])
    assert [p.name for p in path.parent.iterdir()] == ["plan.json"]
