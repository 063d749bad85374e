"""What a benchmark hands back: its results document; tables and targets are derived from the
document alone, so README.md can be regenerated from bench/results/*.json without re-running."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Table:
    title: str
    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]


@dataclass(frozen=True)
class Target:
    name: str
    goal: str
    measured: str
    met: bool | None
    """None: not measured."""

    @property
    def verdict(self) -> str:
        return {True: "met", False: "MISSED", None: "unmeasured"}[self.met]


def median(doc: dict[str, Any], key: str) -> float | None:
    value = doc.get("medians", {}).get(key)
    return float(value) if isinstance(value, int | float) else None
