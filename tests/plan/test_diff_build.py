"""End to end: after editing one handler source, `make plan-diff` alone shows that function's
code changing, and no other function.

It builds what it needs (plan/artifacts.py): the edited worktree's artifacts, with the cargo
target folder of this checkout (so only the workspace's own crates compile again), and the
base's from the artifact cache, which this checkout's own build fills. Builds are
byte-reproducible, so every function whose sources did not change has the same sha256 on both
sides: the report names exactly the edited one.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from plan import artifacts

ROOT = Path(__file__).resolve().parents[2]
TARGET = Path(os.environ.get("CARGO_TARGET_DIR") or ROOT / "app" / "target")
HANDLER_SOURCE = Path("app/handler/src/lib.rs")

pytestmark = [
    pytest.mark.cargo,
    pytest.mark.skipif(shutil.which("cargo") is None, reason="cargo is not installed"),
]


def _git(*args: str, cwd: Path = ROOT) -> str:
    return subprocess.run(
        ["git", *args], cwd=cwd, capture_output=True, text=True, check=True
    ).stdout.strip()


def test_make_plan_diff_shows_exactly_the_edited_function(tmp_path: Path) -> None:
    program = ["__main__.py", "components", "plan", "build", "app", "Pulumi.yaml", "Makefile"]
    if _git("status", "--porcelain", "--", *program):
        # The premise (HEAD's sources are this checkout's) holds in CI's fresh clone.
        pytest.skip("uncommitted changes: commit them so HEAD can be the base")
    # This checkout's build (make test ran it) is HEAD's: it becomes the cached base.
    artifacts.for_worktree(ROOT, target_dir=TARGET)
    assert artifacts.cached(ROOT, artifacts.ref_key(ROOT, "HEAD")) is not None

    scratch = tmp_path / "scratch"
    _git("worktree", "add", "--detach", "--quiet", str(scratch), "HEAD")
    try:
        source = scratch / HANDLER_SOURCE
        text = source.read_text()
        edited = text.replace('"internal error"', '"internal error (edited)"', 1)
        assert edited != text, f'{HANDLER_SOURCE} has no "internal error" literal to edit'
        source.write_text(edited)

        result = subprocess.run(
            ["make", "plan-diff", "STACK=dev", "BASE=HEAD", f"VENV={ROOT / '.venv'}"],
            cwd=scratch,
            env={**os.environ, "CARGO_TARGET_DIR": str(TARGET)},
            capture_output=True,
            text=True,
            check=False,
        )
        assert result.returncode == 0, result.stderr[-3000:]
        report = (scratch / "dist" / "plan-diff-dev.md").read_text()
        changed = re.findall(r"^- `([^`]+)` \(`([^`]+)`\)", report, re.MULTILINE)
        assert changed == [("rust-on-aws-dev-handler", "aws:lambda/function:Function")], report
        assert "`code.sha256`" in report
        assert "to add" in report and "**0 to add, 1 to change (0 replaced), 0 to remove**" in (
            report
        )

        # and the bytes agree: only the handler's zip differs between the two manifests
        head = json.loads((scratch / "dist" / "manifest.json").read_text())
        base_manifest = artifacts.cached(ROOT, artifacts.ref_key(ROOT, "HEAD"))
        assert base_manifest is not None
        base = json.loads(base_manifest.read_text())
        differ = sorted(
            name
            for name, entry in head["functions"].items()
            if entry["sha256"] != base["functions"][name]["sha256"]
        )
        assert differ == ["handler"]
        assert head["server"]["sha256"] == base["server"]["sha256"]
    finally:
        subprocess.run(
            ["git", "worktree", "remove", "--force", str(scratch)], cwd=ROOT, check=False
        )
