"""Cold start, from the run-proof harness (tests/runtime): per-function init duration under the
Lambda Runtime Interface Emulator in a minimal root, and the server's time to its first healthy
response. The harness writes ``dist/runtime-metrics.json``; this benchmark refreshes it (when
the harness exists) and reads it. Without the harness or the file the figures are unmeasured.
"""

from __future__ import annotations

import json
import re
import statistics
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench import builds, table
from bench.measure import timed
from bench.outcome import Table, Target
from bench.stats import ratio_summary

NAME = "coldstart"
METRICS = Path("dist/runtime-metrics.json")
HARNESS = Path("tests/runtime")


def flatten(data: Any, prefix: str = "") -> dict[str, float]:
    """Every number in ``data`` as ``"a.b.c" -> value``; a list of numbers becomes its median."""
    out: dict[str, float] = {}
    if isinstance(data, bool):
        return out
    if isinstance(data, int | float):
        out[prefix] = float(data)
    elif isinstance(data, dict):
        for key, value in data.items():
            out.update(flatten(value, f"{prefix}.{key}" if prefix else str(key)))
    elif isinstance(data, list):
        numbers = [v for v in data if isinstance(v, int | float) and not isinstance(v, bool)]
        if numbers and len(numbers) == len(data):
            out[prefix] = float(statistics.median(numbers))
        else:
            for i, value in enumerate(data):
                out.update(flatten(value, f"{prefix}[{i}]"))
    return out


# The event each function is started with in the paired runs (app/events/<fn>/; the migrate
# function takes none). The figure is the init duration: the event only has to be the usual one.
EVENTS = {
    "authorizer": "allow.json",
    "handler": "list-devices.json",
    "event": "push.json",
    "timer": "scheduled.json",
}
EMPTY_EVENT = "empty.json"
"""The event of a function without sample events (migrate), written once per run."""
_INIT = re.compile(r"^init duration: ([0-9.]+) ms \(cold start\)$", re.MULTILINE)
_INVOKE = re.compile(r"^invoke duration: ([0-9.]+) ms$", re.MULTILINE)


def one_cold_start(
    ctx: builds.Context, side: str, function: str, log: Path
) -> tuple[float | None, float | None]:
    """``python -m local invoke`` on a one-shot stack of ``side``'s build: its init duration and
    the first invocation's (secret read, TLS connection to PostgreSQL, the query)."""
    root = ctx.warm(side)
    app = ctx.base_repo / "app" if side == "base" else ctx.app
    name = EVENTS.get(function)
    event = ctx.repo / "app" / "events" / function / name if name else ctx.work / EMPTY_EVENT
    argv = [
        str(ctx.python),
        "-m",
        "local",
        "--dist",
        str(root / "dist"),
        "--app",
        str(app),
        "invoke",
        function,
        str(event),
    ]
    proc = subprocess.run(argv, cwd=ctx.repo, capture_output=True, text=True, check=False)
    with log.open("a") as out:
        out.write(f"$ {' '.join(argv)}\n{proc.stderr}\n")
    init, invoke = _INIT.search(proc.stderr), _INVOKE.search(proc.stderr)
    return (float(init.group(1)) if init else None, float(invoke.group(1)) if invoke else None)


def paired(
    ctx: builds.Context, sides: tuple[str, ...], rounds: int, say: Callable[[str], None]
) -> tuple[dict[str, Any], dict[str, float]]:
    """Init durations of every function, ``base`` and ``ours`` alternately (which goes first
    swaps every round), each on a fresh one-shot stack; ratios pair by pair."""
    for side in sides:
        builds.ensure_warm(ctx, builds.VARIANTS[side], say)
    (ctx.work / EMPTY_EVENT).write_text("{}\n")
    log = ctx.logs / "coldstart-paired.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_text("")
    raw: dict[str, Any] = {fn: {side: [] for side in sides} for fn in ctx.lambdas}
    first: dict[str, Any] = {fn: {side: [] for side in sides} for fn in ctx.lambdas}
    for i in range(rounds):
        for fn in ctx.lambdas:
            order = sides if (i + ctx.lambdas.index(fn)) % 2 == 0 else tuple(reversed(sides))
            for side in order:
                init, invoke = one_cold_start(ctx, side, fn, log)
                raw[fn][side].append(init)
                first[fn][side].append(invoke)
        say(f"  paired cold starts: round {i + 1}/{rounds} done (log {log})")
    medians: dict[str, float] = {}
    for fn, by_side in first.items():
        for side, values in by_side.items():
            ok = [v for v in values if v is not None]
            if ok:
                medians[f"paired.{fn}.{side}_first_invoke_ms"] = statistics.median(ok)
    for fn, by_side in raw.items():
        for side, values in by_side.items():
            ok = [v for v in values if v is not None]
            if ok:
                medians[f"paired.{fn}.{side}_ms"] = statistics.median(ok)
        if "base" in by_side and "ours" in by_side:
            pairs = [
                (a, b) for a, b in zip(by_side["ours"], by_side["base"], strict=True) if a and b
            ]
            summary = ratio_summary([a for a, _ in pairs], [b for _, b in pairs])
            if summary:
                medians[f"paired.{fn}.ratio"] = summary.median
    return {"init_ms": raw, "first_invoke_ms": first}, medians


def run(
    ctx: builds.Context,
    *,
    refresh: bool,
    say: Callable[[str], None],
    rounds: int = 3,
    sides: tuple[str, ...] = (),
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any], dict[str, Any]]:
    if sides:
        raw, medians = paired(ctx, sides, rounds, say)
        command = [str(ctx.python), "-m", "local", "--dist", "$ROOT/dist", "invoke", "FN", "EVENT"]
        return {"paired": command}, {"paired": raw}, medians, {"rounds": rounds}
    metrics = ctx.repo / METRICS
    # All of tests/runtime: the Lambdas are marked rie, the server test only postgres, and the
    # harness rewrites the whole file, so a narrower selection would drop the server's figure.
    argv = [str(ctx.python), "-m", "pytest", str(HARNESS), "-q"]
    extra: dict[str, Any] = {"source": str(METRICS)}
    if refresh and (ctx.repo / HARNESS).is_dir() and (ctx.repo / "dist/manifest.json").is_file():
        say("cold start: refreshing dist/runtime-metrics.json with the tests/runtime harness ...")
        result = timed(argv, cwd=ctx.repo, log=ctx.logs / "coldstart-pytest.log")
        extra["harness_run"] = result.as_dict()
        say(f"  pytest exit {result.exit_code} in {result.seconds:.0f} s (log {result.log})")
    elif not (ctx.repo / HARNESS).is_dir():
        extra["unmeasured"] = "tests/runtime (the harness) does not exist in this checkout"
    if not metrics.is_file():
        extra.setdefault("unmeasured", f"{METRICS} does not exist: run `{' '.join(argv[1:])}`")
        return {"harness": argv}, {}, {}, extra
    data = json.loads(metrics.read_text())
    extra["measured_at"] = data.get("measured_at") if isinstance(data, dict) else None
    figures = {k: v for k, v in flatten(data).items() if k != "version"}
    return {"harness": argv}, {"metrics": data}, figures, extra


def paired_table(doc: dict[str, Any]) -> list[Table]:
    raw = doc.get("runs", {}).get("paired", {}).get("init_ms", {})
    medians = doc.get("medians", {})
    rows = []
    for fn in sorted(raw):
        sides = raw[fn]
        rows.append(
            (
                fn,
                _ms(medians.get(f"paired.{fn}.base_ms")),
                _ms(medians.get(f"paired.{fn}.ours_ms")),
                table.ratio(medians.get(f"paired.{fn}.ratio")),
                " / ".join(f"{v:.1f}" if v else "-" for v in sides.get("base", [])),
                " / ".join(f"{v:.1f}" if v else "-" for v in sides.get("ours", [])),
                _ms(medians.get(f"paired.{fn}.base_first_invoke_ms")),
                _ms(medians.get(f"paired.{fn}.ours_first_invoke_ms")),
            )
        )
    return [
        Table(
            "Init duration under aws-lambda-rie, --base and this tree alternately (local invoke)",
            (
                "function",
                "base median",
                "ours median",
                "ours / base",
                "base runs",
                "ours runs",
                "first invoke base",
                "ours",
            ),
            tuple(rows),
        )
    ]


def tables(doc: dict[str, Any]) -> list[Table]:
    if doc.get("runs", {}).get("paired"):
        return paired_table(doc)
    medians = doc.get("medians", {})
    if not medians:
        reason = doc.get("extra", {}).get("unmeasured", "no figures")
        return [Table("Cold start", ("figure", "value"), (("unmeasured", reason),))]
    metrics = doc.get("runs", {}).get("metrics", {})
    if isinstance(metrics.get("functions"), dict):
        rows: list[tuple[str, ...]] = [
            (name, _ms(entry.get("init_duration_ms")), "init duration (exec to first /next)")
            for name, entry in sorted(metrics["functions"].items())
        ]
        rows.append(
            (
                "server",
                _ms(metrics.get("server", {}).get("time_to_healthy_ms")),
                "process start to first 200 from /healthz (database check included)",
            )
        )
        when = metrics.get("measured_at", "?")
        return [
            Table(
                f"Cold start in a minimal root under aws-lambda-rie (tests/runtime, {when})",
                ("artifact", "time", "what"),
                tuple(rows),
            )
        ]
    generic = tuple((key, _fmt(key, value)) for key, value in sorted(medians.items()))
    return [
        Table(
            "Cold start under aws-lambda-rie (from dist/runtime-metrics.json)",
            ("figure", "value"),
            generic,
        )
    ]


def _ms(value: object) -> str:
    return f"{value:.1f} ms" if isinstance(value, int | float) else "unmeasured"


def _fmt(key: str, value: float) -> str:
    if key.endswith(("_ms", "ms")):
        return f"{value:.1f} ms"
    if key.endswith(("_s", "seconds")):
        return table.seconds(value)
    return f"{value:.4g}"


def targets(doc: dict[str, Any]) -> list[Target]:
    ratios = {
        k.split(".")[1]: v
        for k, v in doc.get("medians", {}).items()
        if k.startswith("paired.") and k.endswith(".ratio")
    }
    if not ratios:
        return []
    overall = statistics.median(ratios.values())
    worst = max(ratios, key=lambda fn: ratios[fn])
    return [
        Target(
            "init duration vs --base (issue 12)",
            "no worse: median of the per-function ratios <= 1.00x",
            f"{overall:.2f}x (worst {worst} {ratios[worst]:.2f}x)",
            overall <= 1.0,
        )
    ]
