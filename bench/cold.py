"""Cold builds (empty target folder) of the four variants, interleaved, and their audits."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bench import builds, table
from bench.measure import wait_quiet
from bench.outcome import Table, Target, median
from bench.stats import ratio_summary, summarize

NAME = "build-cold"
BASE = "ours"


def run(
    ctx: builds.Context,
    *,
    runs: int,
    variants: tuple[str, ...],
    quiet_seconds: float,
    quiet_timeout: float,
    say: Callable[[str], None],
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any], dict[str, Any]]:
    """Return commands, raw runs, medians and extra (ratios, audits) for the results file."""
    raw: dict[str, list[dict[str, Any]]] = {v: [] for v in variants}
    audits: dict[str, list[dict[str, Any]]] = {}
    for i in range(runs):
        # Rotate the order every round (A B C D, B C D A, ...) so no variant always goes first.
        order = variants[i % len(variants) :] + variants[: i % len(variants)]
        for name in order:
            variant = builds.VARIANTS[name]
            quiet = wait_quiet(quiet_seconds, timeout=quiet_timeout) if quiet_seconds else True
            say(f"cold build {i + 1}/{runs}: {variant.label} ...")
            result, others, audit = builds.cold_run(ctx, variant, i, keep=(i == runs - 1))
            say(
                f"  {result.seconds:.1f} s, exit {result.exit_code}"
                + ("" if quiet else f" (machine busy: {others} rustc of others at start)")
            )
            raw[name].append(
                {**result.as_dict(), "round": i, "others_rustc": others, "quiet": quiet}
            )
            if audit:
                audits[name] = [a.__dict__ for a in audit]
    commands = {name: builds.command_lines(ctx, builds.VARIANTS[name]) for name in variants}
    medians: dict[str, float] = {}
    extra: dict[str, Any] = {"audits": audits, "ratios_vs_ours": {}, "notes": {}}
    for name in variants:
        ok = [r for r in raw[name] if r["exit_code"] == 0]
        extra["notes"][name] = list(builds.VARIANTS[name].notes)
        if not ok:
            continue
        medians[f"{name}.seconds"] = summarize([r["seconds"] for r in ok]).median
        medians[f"{name}.max_rss_mib"] = summarize([r["max_rss_kib"] / 1024 for r in ok]).median
        extra[f"{name}.summary"] = summarize([r["seconds"] for r in ok]).as_dict()
    if BASE in variants:
        base = [r["seconds"] if r["exit_code"] == 0 else float("nan") for r in raw[BASE]]
        for name in variants:
            if name == BASE:
                continue
            other = [r["seconds"] if r["exit_code"] == 0 else float("nan") for r in raw[name]]
            pairs = [(a, b) for a, b in zip(other, base, strict=False) if a == a and b == b]
            summary = ratio_summary([a for a, _ in pairs], [b for _, b in pairs])
            if summary:
                extra["ratios_vs_ours"][name] = summary.as_dict()
                medians[f"{name}.ratio_vs_ours"] = summary.median
    return commands, raw, medians, extra


def cpu_seconds(runs: list[dict[str, Any]]) -> float | None:
    """Median user + system CPU time of the successful runs: less sensitive than wall time to
    other people's compiles on the same cores (they take turns, they do not add work)."""
    values = [r["user_seconds"] + r["system_seconds"] for r in runs if r["exit_code"] == 0]
    return summarize(values).median if values else None


def tables(doc: dict[str, Any]) -> list[Table]:
    extra = doc.get("extra", {})
    base_cpu = cpu_seconds(doc.get("runs", {}).get(BASE, []))
    rows = []
    for name, variant in builds.VARIANTS.items():
        if name not in doc.get("runs", {}):
            continue
        runs = doc["runs"][name]
        summary = extra.get(f"{name}.summary")
        ratio = extra.get("ratios_vs_ours", {}).get(name)
        audit = extra.get("audits", {}).get(name)
        starts = (
            "-"
            if not audit
            else (
                "yes"
                if all(a["starts"] for a in audit)
                else "no: "
                + "; ".join(sorted({_why(a["detail"]) for a in audit if not a["starts"]}))
            )
        )
        failed = sum(1 for r in runs if r["exit_code"] != 0)
        cpu = cpu_seconds(runs)
        busy = max((r.get("others_rustc", 0) for r in runs), default=0)
        rows.append(
            (
                variant.label,
                table.seconds(summary["median"]) if summary else "failed",
                f"{table.seconds(summary['min'])} / {table.seconds(summary['max'])}"
                if summary
                else "-",
                f"{len(runs) - failed}" + (f" ({failed} failed)" if failed else ""),
                "1.00x" if name == BASE else table.ratio(ratio["median"] if ratio else None),
                table.seconds(cpu),
                table.ratio(cpu / base_cpu) if cpu and base_cpu else "-",
                f"{median(doc, f'{name}.max_rss_mib') or 0:.0f} MiB",
                str(busy),
                starts,
            )
        )
    return [
        Table(
            "Cold build (empty target folder), wall time",
            (
                "build",
                "median",
                "min / max",
                "runs",
                "vs (1)",
                "CPU user+sys",
                "CPU vs (1)",
                "peak RSS",
                "others' rustc at start",
                "starts on provided.al2023",
            ),
            tuple(rows),
        )
    ]


def _why(detail: str) -> str:
    if "libpq" in detail:
        return "needs libpq.so.5, absent from the runtime"
    return detail[:120]


def targets(doc: dict[str, Any]) -> list[Target]:
    ours = median(doc, "ours.seconds")
    cargo = median(doc, "cargo.seconds")
    per_fn = median(doc, "per-function.seconds")
    ratio_cargo = doc.get("extra", {}).get("ratios_vs_ours", {}).get("cargo")
    ratio_fn = doc.get("extra", {}).get("ratios_vs_ours", {}).get("per-function")
    out = []
    if ours and cargo and ratio_cargo:
        overhead = 1 / ratio_cargo["median"] - 1
        out.append(
            Target(
                "cold build vs plain cargo",
                "within 5%",
                f"{overhead * 100:+.1f}% ({table.seconds(ours)} vs {table.seconds(cargo)})",
                overhead <= 0.05,
            )
        )
    else:
        out.append(Target("cold build vs plain cargo", "within 5%", "-", None))
    ratio_base = doc.get("extra", {}).get("ratios_vs_ours", {}).get("cargo-base")
    cargo_base = median(doc, "cargo-base.seconds")
    if ours and cargo_base and ratio_base:
        times = 1 / ratio_base["median"]
        out.append(
            Target(
                "cold build vs --base's plain cargo (issue 12)",
                "<= 1.15x",
                f"{times:.2f}x ({table.seconds(ours)} vs {table.seconds(cargo_base)})",
                round(times, 6) <= 1.15,
            )
        )
    if ours and per_fn and ratio_fn:
        out.append(
            Target(
                "cold build vs one build per function",
                ">= 3x faster",
                f"{ratio_fn['median']:.2f}x faster",
                ratio_fn["median"] >= 3,
            )
        )
    else:
        out.append(Target("cold build vs one build per function", ">= 3x faster", "-", None))
    return out
