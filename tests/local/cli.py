"""`python -m local` as the tests run it: one helper for every test module of tests/local."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DIST = Path(os.environ.get("RUNTIME_DIST", ROOT / "dist"))
"""The build the tests serve (RUNTIME_DIST: another build's dist/)."""


def local_cli(
    *args: str, timeout: float = 180, dist: Path = DIST, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """`python -m local --dist DIST ARGS...` from the repository root, output captured."""
    return subprocess.run(
        [sys.executable, "-m", "local", "--dist", str(dist), *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
