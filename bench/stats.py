"""Medians, ratios and changes: pure arithmetic over lists of measurements (tested)."""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Summary:
    """Median, min and max of a list of measurements, and how many there were."""

    median: float
    min: float
    max: float
    n: int

    def as_dict(self) -> dict[str, float | int]:
        return asdict(self)


def summarize(values: Sequence[float]) -> Summary:
    """Summary of ``values``; ValueError when there are none."""
    if not values:
        raise ValueError("summarize() needs at least one value")
    return Summary(statistics.median(values), min(values), max(values), len(values))


def pair_ratios(numerators: Sequence[float], denominators: Sequence[float]) -> list[float]:
    """Ratio of each run of A to the run of B made next to it (A B A B ...), pair by pair.

    Pairs are taken by position; when one side has fewer runs (a failed run), the extra runs of
    the other side are left out. A zero denominator gives ``inf``.
    """
    return [(a / b if b else float("inf")) for a, b in zip(numerators, denominators, strict=False)]


def ratio_summary(numerators: Sequence[float], denominators: Sequence[float]) -> Summary | None:
    """Summary of the pair-by-pair ratios, None when there is no pair."""
    ratios = pair_ratios(numerators, denominators)
    return summarize(ratios) if ratios else None


def change(current: float, previous: float | None) -> float | None:
    """Relative change of ``current`` against ``previous`` (0.05 = 5% more), None if unknown."""
    if previous is None or previous == 0:
        return None
    return current / previous - 1.0


def changes(
    current: Mapping[str, float], previous: Mapping[str, float] | None
) -> dict[str, float | None]:
    """``change`` for every key of ``current`` (None for keys the previous results lack)."""
    previous = previous or {}
    return {key: change(value, previous.get(key)) for key, value in current.items()}


def format_change(value: float | None) -> str:
    """``+4.2%`` / ``-10.0%`` / ``new``."""
    return "new" if value is None else f"{value * 100:+.1f}%"


def within(ratio: float, limit: float) -> bool:
    """True when ``ratio`` <= ``limit`` (a target such as "within 5%": limit 1.05)."""
    return ratio <= limit
