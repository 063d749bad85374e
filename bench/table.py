"""Plain-text and Markdown tables (the same rows print to the terminal and go in README.md)."""

from __future__ import annotations

from collections.abc import Sequence


def render(header: Sequence[str], rows: Sequence[Sequence[str]], *, markdown: bool = False) -> str:
    """Columns padded to their widest cell; ``markdown`` gives a GitHub table."""
    cells = [list(header), *[list(r) for r in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    if markdown:
        lines = [
            "| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |"
            for row in cells
        ]
        lines.insert(1, "| " + " | ".join("-" * w for w in widths) + " |")
        return "\n".join(lines)
    return "\n".join(
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells
    )


def seconds(value: float | None) -> str:
    if value is None:
        return "-"
    if value >= 60:
        return f"{value:.0f} s ({value / 60:.1f} min)"
    return f"{value:.2f} s"


def ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}x"


def mib(size_bytes: float | None) -> str:
    return "-" if size_bytes is None else f"{size_bytes / 1024 / 1024:.2f} MiB"


def percent(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.1f}%"
