"""``python -m bench [--only build,noop,size,plan,coldstart] [--runs N]`` (= ``make bench``).

Each benchmark prints a table (medians over the runs, min/max, ratios), writes
``bench/results/<name>.json`` and prints the change against the results file it replaces.
bench/README.md's results section is regenerated from the results files at the end.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from bench import base, builds, cold, coldstart, noop, plantime, report, results, size, workspace
from bench.machine import machine_info

REPO = Path(__file__).resolve().parent.parent
BENCHMARKS = ("build", "noop", "size", "plan", "coldstart")
BASE_VARIANTS = ("base", "cargo-base")
DEFAULT_WORK = Path("/tmp/rust-on-aws-bench")


def say(message: str) -> None:
    print(f"==> {message}", file=sys.stderr, flush=True)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    p.add_argument(
        "--only",
        default=",".join(BENCHMARKS),
        help=f"comma-separated benchmarks (default: all of {','.join(BENCHMARKS)})",
    )
    p.add_argument(
        "--runs", type=int, default=5, help="runs of each cheap benchmark (no-op, plan); default 5"
    )
    p.add_argument(
        "--cold-runs",
        type=int,
        default=1,
        help="runs of each cold build (several minutes each here); default 1",
    )
    p.add_argument(
        "--variants",
        default=None,
        help=f"build variants to compare, of {','.join(builds.VARIANTS)} (default: all; the "
        f"{' and '.join(BASE_VARIANTS)} variants only with --base)",
    )
    p.add_argument(
        "--base",
        metavar="REF",
        help="also build and start REF's code (e.g. origin/main) in the same run: variants "
        "base and cargo-base, sizes and paired cold starts against it",
    )
    p.add_argument(
        "--coldstart-rounds",
        type=int,
        default=3,
        help="with --base: paired cold starts per function and side (default 3)",
    )
    p.add_argument(
        "--app",
        type=Path,
        default=REPO / "app",
        help="the Cargo workspace to snapshot and build (default: app)",
    )
    p.add_argument(
        "--work",
        type=Path,
        default=DEFAULT_WORK,
        help=f"scratch folder: app/ snapshot, target folders, logs ({DEFAULT_WORK})",
    )
    p.add_argument(
        "--results",
        type=Path,
        default=REPO / "bench" / "results",
        help="where the results files go (default bench/results)",
    )
    p.add_argument(
        "--quiet-seconds",
        type=float,
        default=60.0,
        help="before each cold build, wait until no rustc of others ran this long",
    )
    p.add_argument(
        "--quiet-timeout",
        type=float,
        default=1800.0,
        help="...but no longer than this; the run records the machine was busy",
    )
    p.add_argument(
        "--no-refresh",
        action="store_true",
        help="coldstart: read dist/runtime-metrics.json without re-running the harness",
    )
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    only = [b.strip() for b in args.only.split(",") if b.strip()]
    unknown = [b for b in only if b not in BENCHMARKS]
    default = [v for v in builds.VARIANTS if args.base or v not in BASE_VARIANTS]
    variants = tuple(
        v.strip() for v in (args.variants or ",".join(default)).split(",") if v.strip()
    )
    bad = [v for v in variants if v not in builds.VARIANTS]
    if not args.base and any(v in BASE_VARIANTS for v in variants):
        print(
            f"python -m bench: the variants {', '.join(BASE_VARIANTS)} build the base ref, and no "
            "--base REF was given: add --base origin/main (or another ref)",
            file=sys.stderr,
        )
        return 2
    if unknown or bad or args.runs < 1 or args.cold_runs < 1:
        print(
            f"python -m bench: unknown benchmark {unknown or ''} / variant {bad or ''}, or "
            f"runs < 1; benchmarks: {', '.join(BENCHMARKS)}; variants: "
            f"{', '.join(builds.VARIANTS)}",
            file=sys.stderr,
        )
        return 2
    work = args.work.absolute()
    work.mkdir(parents=True, exist_ok=True)
    base_dir = None
    if args.base:
        try:
            base_dir, commit = base.checkout(REPO, args.base, work / "base")
        except base.BaseError as exc:
            print(f"python -m bench: {exc}", file=sys.stderr)
            return 2
        say(f"base: {args.base} = {commit[:12]} unpacked in {base_dir}")
    ctx = builds.Context(repo=REPO, work=work, base=base_dir)
    machine = machine_info(ctx.venv_bin)
    ws: dict[str, Any] = {}
    if any(b in only for b in ("build", "noop", "size")):
        ws = {
            "app": str(args.app),
            "snapshot": str(ctx.app),
            "sha256": workspace.snapshot(args.app.absolute(), ctx.app),
        }
        say(f"workspace: snapshot of app/ in {ctx.app} (sources sha256 {ws['sha256'][:12]})")
    status = 0
    for bench in only:
        start = time.monotonic()
        if bench == "build":
            name = cold.NAME
            parts = cold.run(
                ctx,
                runs=args.cold_runs,
                variants=variants,
                quiet_seconds=args.quiet_seconds,
                quiet_timeout=args.quiet_timeout,
                say=say,
            )
        elif bench == "noop":
            name = noop.NAME
            parts = noop.run(ctx, runs=args.runs, variants=variants, say=say)
        elif bench == "size":
            name = size.NAME
            parts = size.run(
                ctx,
                variants=tuple(v for v in ("ours", "base", "cargo-lambda") if v in variants),
                say=say,
            )
        elif bench == "plan":
            name = plantime.NAME
            parts = plantime.run(ctx, runs=args.runs, say=say)
        else:
            name = coldstart.NAME
            parts = coldstart.run(
                ctx,
                refresh=not args.no_refresh,
                say=say,
                rounds=args.coldstart_rounds,
                sides=tuple(v for v in ("ours", "base") if v in variants) if args.base else (),
            )
        commands, raw, medians, extra = parts
        extra = {
            **extra,
            "base": {"ref": args.base, "checkout": str(base_dir)} if args.base else None,
            "elapsed_seconds": time.monotonic() - start,
            "runs_requested": args.cold_runs if bench == "build" else args.runs,
        }
        doc = results.document(
            name,
            machine=machine,
            commands=commands,
            runs=raw,
            medians=medians,
            extra=extra,
            workspace=ws,
        )
        path, previous = results.write(args.results, doc)
        print(f"\n{report.text(doc)}\n")
        print("\n".join(results.comparison(doc, previous)))
        print(f"results: {path}\n")
        if any(t.met is False for t in report.targets(doc)):
            status = 1
    readme = REPO / "bench" / "README.md"
    if args.results.absolute() == (REPO / "bench" / "results") and report.update_readme(
        readme, args.results
    ):
        say("bench/README.md: results section regenerated")
    return status


if __name__ == "__main__":
    sys.exit(main())
