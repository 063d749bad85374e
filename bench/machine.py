"""The machine and the tools a benchmark ran with, recorded in every results file."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from pathlib import Path


def _first_line(argv: list[str]) -> str | None:
    try:
        out = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=60)
    except (FileNotFoundError, subprocess.TimeoutExpired):
        return None
    text = (out.stdout or out.stderr).strip()
    return text.splitlines()[0] if text and out.returncode == 0 else None


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def memory_gib() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 1024 / 1024, 1)
    except (OSError, ValueError, IndexError):
        pass
    return None


def machine_info(venv_bin: Path) -> dict[str, object]:
    """nproc, memory, CPU model, OS and the versions of every tool the benchmarks run."""
    return {
        "nproc": os.cpu_count(),
        "memory_gib": memory_gib(),
        "cpu": cpu_model(),
        "os": platform.platform(),
        "python": sys.version.split()[0],
        "tools": {
            "cargo": _first_line(["cargo", "--version"]),
            "rustc": _first_line(["rustc", "--version"]),
            "cargo-lambda": _first_line([str(venv_bin / "cargo-lambda"), "lambda", "--version"]),
            "zig": _first_line([str(venv_bin / "python"), "-m", "ziglang", "version"]),
        },
    }
