"""The one way the build step runs other programs (STYLE 9)."""

from __future__ import annotations

import logging
import shlex
import subprocess
import sys
from collections import deque
from collections.abc import Mapping, Sequence
from pathlib import Path

from build.errors import CommandError

log = logging.getLogger(__name__)

TAIL_LINES = 20


def tail(text: str, lines: int = TAIL_LINES) -> str:
    """The last ``lines`` non-empty lines of ``text``, joined with `` | `` to keep one line."""
    kept = [line.rstrip() for line in text.splitlines() if line.strip()]
    return " | ".join(kept[-lines:])


def run(
    argv: Sequence[str | Path],
    *,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    capture: bool = True,
) -> subprocess.CompletedProcess[str]:
    """Run ``argv`` (never through a shell) and return it; raise CommandError when it fails.

    ``capture=False`` streams the command's stderr to ours as it comes (cargo's progress) and
    keeps its last lines for the error message; its stdout is merged into that stream.
    """
    args = [str(a) for a in argv]
    log.debug("run: %s (cwd=%s)", shlex.join(args), cwd)
    try:
        if capture:
            proc = subprocess.run(
                args,
                cwd=cwd,
                env=dict(env) if env is not None else None,
                capture_output=True,
                text=True,
                check=False,
            )
        else:
            proc = _stream(args, cwd, env)
    except FileNotFoundError as exc:
        raise CommandError(
            f"command {args[0]!r} not found: `{shlex.join(args)}` needs it on PATH; install it "
            "(see build/README.md)"
        ) from exc
    if proc.returncode != 0:
        raise CommandError(
            f"`{shlex.join(args)}` failed with exit status {proc.returncode}: "
            f"{tail(proc.stderr or proc.stdout or '') or '(no output)'}"
        )
    return proc


def _stream(
    args: list[str], cwd: Path | None, env: Mapping[str, str] | None
) -> subprocess.CompletedProcess[str]:
    kept: deque[str] = deque(maxlen=200)
    with subprocess.Popen(
        args,
        cwd=cwd,
        env=dict(env) if env is not None else None,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        errors="replace",
    ) as proc:
        assert proc.stdout is not None
        for line in proc.stdout:
            sys.stderr.write(line)
            kept.append(line)
    return subprocess.CompletedProcess(args, proc.returncode, "", "".join(kept))
