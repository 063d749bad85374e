"""No-op rebuilds (nothing changed since the last build) of the four variants, interleaved,
with the sha256 of every artifact before and after each run: a no-op must change no byte."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench import builds, table
from bench.outcome import Table, Target, median
from bench.stats import summarize

NAME = "build-noop"
LIMIT_SECONDS = 2.0
STAGE = re.compile(r"^==> (.+) \(([\d.]+)s(?: in all)?\)$")


def stages(log: Path) -> list[tuple[str, float]]:
    """The stage lines ``==> <stage> (<seconds>s)`` of the last ``python -m build all`` in
    ``log``: where our no-op time goes (the rest is Python start-up)."""
    text = log.read_text(errors="replace") if log.is_file() else ""
    last = text.rsplit("\n$ (", 1)[-1]
    return [(m[1], float(m[2])) for m in map(STAGE.match, last.splitlines()) if m]


def _artifacts(ctx: builds.Context, name: str, root: Path) -> dict[str, Path]:
    if name == "ours":
        return builds.ours_artifacts(ctx, root)
    return dict(builds.VARIANTS[name].lambda_outputs(ctx, root))


def run(
    ctx: builds.Context,
    *,
    runs: int,
    variants: tuple[str, ...],
    say: Callable[[str], None],
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any], dict[str, Any]]:
    roots = {name: builds.ensure_warm(ctx, builds.VARIANTS[name], say) for name in variants}
    before = {name: builds.file_hashes(_artifacts(ctx, name, roots[name])) for name in variants}
    raw: dict[str, list[dict[str, Any]]] = {v: [] for v in variants}
    for i in range(runs):
        for name in variants:
            variant = builds.VARIANTS[name]
            result = builds.build_once(ctx, variant, roots[name], ctx.logs / f"noop-{name}.log")
            after = builds.file_hashes(_artifacts(ctx, name, roots[name]))
            changed = sorted(k for k in after if after[k] != before[name].get(k))
            say(
                f"no-op {i + 1}/{runs}: {variant.label}: {result.seconds:.2f} s, "
                f"{'identical bytes' if not changed else 'changed: ' + ', '.join(changed)}"
            )
            raw[name].append({**result.as_dict(), "changed": changed})
    commands = {name: builds.command_lines(ctx, builds.VARIANTS[name]) for name in variants}
    medians: dict[str, float] = {}
    extra: dict[str, Any] = {"sha256": before}
    if "ours" in variants:
        extra["ours.stages"] = stages(ctx.logs / "noop-ours.log")
    for name in variants:
        ok = [r for r in raw[name] if r["exit_code"] == 0]
        if ok:
            medians[f"{name}.seconds"] = summarize([r["seconds"] for r in ok]).median
            extra[f"{name}.summary"] = summarize([r["seconds"] for r in ok]).as_dict()
    return commands, raw, medians, extra


def tables(doc: dict[str, Any]) -> list[Table]:
    rows = []
    base = median(doc, "ours.seconds")
    for name, variant in builds.VARIANTS.items():
        runs = doc.get("runs", {}).get(name)
        if not runs:
            continue
        summary = doc["extra"].get(f"{name}.summary")
        value = median(doc, f"{name}.seconds")
        changed = sorted({c for r in runs for c in r.get("changed", [])})
        rows.append(
            (
                variant.label,
                table.seconds(value),
                f"{table.seconds(summary['min'])} / {table.seconds(summary['max'])}"
                if summary
                else "-",
                str(len(runs)),
                table.ratio(value / base) if value and base else "-",
                "yes" if not changed else "no: " + ", ".join(changed),
            )
        )
    out = [
        Table(
            "No-op rebuild (nothing changed), wall time",
            ("build", "median", "min / max", "runs", "vs (1)", "artifacts byte-identical"),
            tuple(rows),
        )
    ]
    steps = doc.get("extra", {}).get("ours.stages")
    if steps:
        out.append(
            Table(
                "Where the no-op of (1) goes (stages of its last run; the rest is start-up)",
                ("stage", "time"),
                tuple((name, f"{secs:.1f} s") for name, secs in steps),
            )
        )
    return out


def targets(doc: dict[str, Any]) -> list[Target]:
    value = median(doc, "ours.seconds")
    runs = doc.get("runs", {}).get("ours", [])
    identical = bool(runs) and all(not r.get("changed") for r in runs)
    if value is None:
        return [Target("no-op rebuild", f"< {LIMIT_SECONDS:.0f} s, byte-identical zips", "-", None)]
    return [
        Target(
            "no-op rebuild",
            f"< {LIMIT_SECONDS:.0f} s, byte-identical zips",
            f"{table.seconds(value)}, {'identical' if identical else 'CHANGED'}",
            value < LIMIT_SECONDS and identical,
        )
    ]
