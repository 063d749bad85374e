"""End to end: `python -m build all` on the real workspace, then audit every artifact."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [
    pytest.mark.cargo,
    pytest.mark.skipif(shutil.which("cargo") is None, reason="cargo is not installed"),
    pytest.mark.skipif(
        not (ROOT / "app" / "Cargo.toml").is_file(), reason="app/Cargo.toml not written yet"
    ),
]


def test_build_all_on_app_then_audit(tmp_path: Path):
    dist = tmp_path / "dist"
    build = subprocess.run(
        [sys.executable, "-m", "build", "all", "--dist", str(dist)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert build.returncode == 0, build.stderr[-3000:]
    manifest = json.loads((dist / "manifest.json").read_text())
    assert sorted(manifest["functions"]) == ["authorizer", "event", "handler", "migrate", "timer"]
    for entry in manifest["functions"].values():
        with zipfile.ZipFile(dist / entry["zip"]) as z:
            assert "bootstrap" in z.namelist()
        for lib in entry["bundled"]:
            assert lib["package"], lib  # every bundled library comes from a Debian package here
    zips = sorted(str(dist / e["zip"]) for e in manifest["functions"].values())
    audit = subprocess.run(
        [
            sys.executable,
            "-m",
            "build",
            "audit",
            "--runtime",
            "provided.al2023",
            *zips,
            str(dist / "server"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert audit.returncode == 0, audit.stdout
    assert audit.stdout.count("provided.al2023/x86_64: compatible") == 6
