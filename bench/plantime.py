"""Offline plan of each stack (``python -m plan --stack S --manifest tests/fixtures/manifest.json``)
as a subprocess: wall time (Python start-up and imports included, as a user sees it) and peak
memory, stacks interleaved."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench import builds, table
from bench.measure import timed
from bench.outcome import Table, Target, median
from bench.stats import summarize

NAME = "plan"
LIMIT_SECONDS = 2.0
MANIFEST = Path("tests/fixtures/manifest.json")
# `python -m plan` ends with "  total  <resources>  (<seconds> s)": the time of run_plan alone.
PROGRAM_TIME = re.compile(r"^\s*total\s+(\d+)\s+\(([\d.]+) s\)\s*$", re.MULTILINE)


def program_time(log: Path) -> tuple[int, float] | None:
    """Resources and seconds of the last plan in ``log`` (run_plan only: no start-up)."""
    found = PROGRAM_TIME.findall(log.read_text(errors="replace")) if log.is_file() else []
    return (int(found[-1][0]), float(found[-1][1])) if found else None


def stacks(repo: Path) -> list[str]:
    """Every ``Pulumi.<stack>.yaml`` of the project, in the order dev, sandbox, prod, others."""
    found = [
        p.name.removeprefix("Pulumi.").removesuffix(".yaml") for p in repo.glob("Pulumi.*.yaml")
    ]
    order = {"dev": 0, "sandbox": 1, "prod": 2}
    return sorted(found, key=lambda s: (order.get(s, 9), s))


def argv(ctx: builds.Context, stack: str) -> list[str]:
    out = ctx.work / "plans" / f"plan-{stack}.json"
    return [
        str(ctx.python),
        "-m",
        "plan",
        "--stack",
        stack,
        "--manifest",
        str(MANIFEST),
        "--out",
        str(out),
    ]


def run(
    ctx: builds.Context, *, runs: int, say: Callable[[str], None]
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any], dict[str, Any]]:
    names = stacks(ctx.repo)
    (ctx.work / "plans").mkdir(parents=True, exist_ok=True)
    raw: dict[str, list[dict[str, Any]]] = {s: [] for s in names}
    for i in range(runs):
        for stack in names:
            result = timed(argv(ctx, stack), cwd=ctx.repo, log=ctx.logs / f"plan-{stack}.log")
            say(
                f"plan {i + 1}/{runs}: {stack}: {result.seconds:.2f} s, "
                f"{result.max_rss_kib / 1024:.0f} MiB, exit {result.exit_code}"
            )
            inner = program_time(Path(result.log))
            raw[stack].append(
                {
                    **result.as_dict(),
                    "resources": inner[0] if inner else None,
                    "program_seconds": inner[1] if inner else None,
                }
            )
    medians: dict[str, float] = {}
    extra: dict[str, Any] = {}
    for stack in names:
        ok = [r for r in raw[stack] if r["exit_code"] == 0]
        if ok:
            medians[f"{stack}.seconds"] = summarize([r["seconds"] for r in ok]).median
            medians[f"{stack}.max_rss_mib"] = max(r["max_rss_kib"] for r in ok) / 1024
            extra[f"{stack}.summary"] = summarize([r["seconds"] for r in ok]).as_dict()
            program = [r["program_seconds"] for r in ok if r.get("program_seconds") is not None]
            if program:
                medians[f"{stack}.program_seconds"] = summarize(program).median
                medians[f"{stack}.startup_seconds"] = (
                    medians[f"{stack}.seconds"] - medians[f"{stack}.program_seconds"]
                )
        plan_file = ctx.work / "plans" / f"plan-{stack}.json"
        if plan_file.is_file():
            extra[f"{stack}.plan_bytes"] = plan_file.stat().st_size
    # The same plans in one process: the first pays the imports, the others show the rest.
    warm_out = ctx.work / "plans" / "warm.json"
    warm_argv = [str(ctx.python), "-m", "bench.plan_warm", str(warm_out), *names]
    warm_argv += ["--runs", str(runs), "--manifest", str(MANIFEST)]
    say("plan: the same stacks in one process ...")
    warm = timed(warm_argv, cwd=ctx.repo, log=ctx.logs / "plan-warm.log")
    if warm.ok and warm_out.is_file():
        data = json.loads(warm_out.read_text())
        first = data["plans"][0]
        extra["in_process"] = {**data, "first_stack": first[0], "first_seconds": first[1]}
        medians["in_process.import_seconds"] = data["import_seconds"]
        for stack in names:
            later = [s for st, s in data["plans"][1:] if st == stack]
            if later:
                medians[f"{stack}.in_process_seconds"] = summarize(later).median
    commands = {s: [a.replace(str(ctx.work), "$WORK") for a in argv(ctx, s)] for s in names}
    commands["in_process"] = [a.replace(str(ctx.work), "$WORK") for a in warm_argv]
    return commands, raw, medians, extra


def tables(doc: dict[str, Any]) -> list[Table]:
    rows = []
    for stack, runs in doc.get("runs", {}).items():
        summary = doc["extra"].get(f"{stack}.summary")
        rss = median(doc, f"{stack}.max_rss_mib")
        rows.append(
            (
                stack,
                table.seconds(summary["median"]) if summary else "failed",
                f"{table.seconds(summary['min'])} / {table.seconds(summary['max'])}"
                if summary
                else "-",
                str(len(runs)),
                table.seconds(median(doc, f"{stack}.program_seconds")),
                table.seconds(median(doc, f"{stack}.startup_seconds")),
                table.seconds(median(doc, f"{stack}.in_process_seconds")),
                str(next((r["resources"] for r in runs if r.get("resources")), "-")),
                f"{rss:.0f} MiB" if rss else "-",
            )
        )
    return [
        Table(
            "Offline plan per stack (subprocess, fixture manifest)",
            (
                "stack",
                "median",
                "min / max",
                "runs",
                "of which run_plan (incl. its AWS imports)",
                "interpreter, CLI imports, write",
                "in one process, after the first plan",
                "resources",
                "peak RSS",
            ),
            tuple(rows),
        )
    ]


def targets(doc: dict[str, Any]) -> list[Target]:
    out = []
    for stack in doc.get("runs", {}):
        value = median(doc, f"{stack}.seconds")
        out.append(
            Target(
                f"offline plan of {stack}",
                f"< {LIMIT_SECONDS:.0f} s",
                table.seconds(value),
                None if value is None else value < LIMIT_SECONDS,
            )
        )
    return out
