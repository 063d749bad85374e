"""Cold start, from the run-proof harness (tests/runtime): per-function init duration under the
Lambda Runtime Interface Emulator in a minimal root, and the server's time to its first healthy
response. The harness writes ``dist/runtime-metrics.json``; this benchmark refreshes it (when
the harness exists) and reads it. Without the harness or the file the figures are unmeasured.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench import builds, table
from bench.measure import timed
from bench.outcome import Table, Target

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


def run(
    ctx: builds.Context, *, refresh: bool, say: Callable[[str], None]
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any], dict[str, Any]]:
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


def tables(doc: dict[str, Any]) -> list[Table]:
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


def targets(doc: dict[str, Any]) -> list[Target]:  # noqa: ARG001 - the issue sets no target
    return []
