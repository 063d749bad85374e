"""Run a command and measure it: wall time (``time.perf_counter``), CPU time and peak memory.

Peak memory comes from ``os.wait4`` on the child: the kernel's ``ru_maxrss`` of the child and of
every descendant it waited for (for cargo: the largest rustc or linker), in KiB. The output goes
to a log file (cargo prints a lot), whose tail is kept for errors.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

TAIL_LINES = 15


@dataclass(frozen=True)
class Run:
    """One measured run of one command (or of a sequence of commands, summed)."""

    seconds: float
    """Wall time."""
    user_seconds: float
    system_seconds: float
    max_rss_kib: int
    """Largest resident set of the command or any process it waited for."""
    exit_code: int
    log: str
    """The file holding the command's output."""

    @property
    def ok(self) -> bool:
        return self.exit_code == 0

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def tail(path: Path, lines: int = TAIL_LINES) -> str:
    """The last non-empty lines of a log file, joined with `` | ``."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    kept = [line.rstrip() for line in text.splitlines() if line.strip()]
    return " | ".join(kept[-lines:])


def timed(
    argv: Sequence[str | Path],
    *,
    cwd: Path,
    env: Mapping[str, str] | None = None,
    log: Path,
) -> Run:
    """Run ``argv`` (no shell) with its output appended to ``log``; return what it cost."""
    args = [str(a) for a in argv]
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("a") as out:
        out.write(f"$ (cd {cwd} && {shlex.join(args)})\n")
        out.flush()
        start = time.perf_counter()
        proc = subprocess.Popen(
            args,
            cwd=cwd,
            env=dict(env) if env is not None else None,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
    return Run(
        seconds=seconds,
        user_seconds=usage.ru_utime,
        system_seconds=usage.ru_stime,
        max_rss_kib=usage.ru_maxrss,
        exit_code=proc.returncode,
        log=str(log),
    )


def combine(runs: Sequence[Run]) -> Run:
    """Several commands run one after the other, as one run: times add up, memory is the peak,
    the exit code is the first failure's."""
    if not runs:
        raise ValueError("combine() needs at least one run")
    failed = [r.exit_code for r in runs if r.exit_code != 0]
    return Run(
        seconds=sum(r.seconds for r in runs),
        user_seconds=sum(r.user_seconds for r in runs),
        system_seconds=sum(r.system_seconds for r in runs),
        max_rss_kib=max(r.max_rss_kib for r in runs),
        exit_code=failed[0] if failed else 0,
        log=runs[-1].log,
    )


def wait_quiet(
    seconds: float, *, timeout: float, process: str = "rustc", poll: float = 5.0
) -> bool:
    """Wait until no ``process`` (someone else's compile) has run for ``seconds`` in a row.

    True once quiet, False when ``timeout`` passed first (the caller then measures anyway and
    records how busy the machine was). Used before cold builds: a compile of someone else on
    the same cores makes their timings noisy.
    """
    deadline = time.monotonic() + timeout
    quiet_since: float | None = None
    while True:
        now = time.monotonic()
        if busy_processes(process) > 0:
            quiet_since = None
        else:
            quiet_since = now if quiet_since is None else quiet_since
            if now - quiet_since >= seconds:
                return True
        if now >= deadline:
            return False
        time.sleep(poll)


def busy_processes(process: str = "rustc") -> int:
    """How many ``process`` run now (``pgrep -c -x``); recorded with every timed run."""
    try:
        out = subprocess.run(
            ["pgrep", "-c", "-x", process], capture_output=True, text=True, check=False
        )
    except FileNotFoundError:
        return -1
    try:
        return int(out.stdout.strip() or 0)
    except ValueError:
        return -1
