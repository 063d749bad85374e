"""scripts/verify_manifest.py: the bytes to deploy are the ones built, and the ones a stack runs."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from components.manifest import artifact_digest, read_manifest

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures"
SCRIPT = ROOT / "scripts" / "verify_manifest.py"


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args], capture_output=True, text=True, check=False
    )


@pytest.fixture
def dist(tmp_path: Path) -> Path:
    copy = tmp_path / "dist"
    shutil.copytree(FIXTURES, copy, ignore=shutil.ignore_patterns("*.py"))
    return copy


def _digest_by_hand(manifest: Path) -> str:
    """The digest from the zips' own bytes and the server's recorded sha256, computed here."""
    doc = json.loads(manifest.read_text())
    functions = {
        name: hashlib.sha256((manifest.parent / e["zip"]).read_bytes()).hexdigest()
        for name, e in doc["functions"].items()
    }
    body = {"functions": dict(sorted(functions.items())), "server": doc["server"]["sha256"]}
    text = json.dumps(body, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def test_good_artifacts_pass_and_print_their_digest(dist: Path) -> None:
    result = run(str(dist / "manifest.json"))
    assert result.returncode == 0, result.stderr
    digest = _digest_by_hand(dist / "manifest.json")
    assert f"artifact digest {digest}" in result.stdout
    # the program exports the same digest for the same manifest
    manifest = read_manifest(
        dist / "manifest.json", runtime="provided.al2023", architecture="x86_64"
    )
    assert manifest.digest == digest
    assert run("--digest", digest, str(dist / "manifest.json")).returncode == 0


def test_another_stacks_digest_is_refused(dist: Path) -> None:
    result = run("--digest", "0" * 64, str(dist / "manifest.json"))
    assert result.returncode == 1
    assert "is not the stack's " + "0" * 64 in result.stderr


def test_a_changed_zip_is_refused(dist: Path) -> None:
    (dist / "handler.zip").write_bytes(b"not the built bytes")
    result = run(str(dist / "manifest.json"))
    assert result.returncode == 1
    assert "handler:" in result.stderr and "rebuild with `make build`" in result.stderr


def test_digest_names_every_artifact() -> None:
    base = artifact_digest({"a": "1" * 64, "b": "2" * 64}, "3" * 64)
    assert base == artifact_digest({"b": "2" * 64, "a": "1" * 64}, "3" * 64)  # order-free
    assert base != artifact_digest({"a": "1" * 64, "b": "4" * 64}, "3" * 64)
    assert base != artifact_digest({"a": "1" * 64, "b": "2" * 64}, "5" * 64)
    assert base != artifact_digest({"a": "1" * 64}, "3" * 64)
