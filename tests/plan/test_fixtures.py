"""tests/fixtures: the generator is deterministic and matches what is committed."""

from __future__ import annotations

import importlib.util
import stat
import zipfile
from pathlib import Path

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def _generator():
    spec = importlib.util.spec_from_file_location("make_fixtures", FIXTURES / "make_fixtures.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_two_generations_are_identical(tmp_path: Path) -> None:
    generator = _generator()
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    generator.main(tmp_path / "a")
    generator.main(tmp_path / "b")
    for name in ("authorizer.zip", "handler.zip", "event.zip", "timer.zip", "manifest.json"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    assert (tmp_path / "a" / "manifest.json").read_text() == (
        FIXTURES / "manifest.json"
    ).read_text()


def test_zips_hold_an_executable_bootstrap() -> None:
    for name in ("authorizer", "handler", "event", "timer"):
        with zipfile.ZipFile(FIXTURES / f"{name}.zip") as archive:
            [info] = archive.infolist()
            assert info.filename == "bootstrap"
            assert stat.S_IMODE(info.external_attr >> 16) == 0o755
            assert archive.read(info).startswith(b"#!/bin/sh\n")
