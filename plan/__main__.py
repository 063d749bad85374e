"""`python -m plan --stack dev [--stack prod ...] [--manifest P] [--out P]`; `python -m plan diff`.

Several stacks in one call share one process, so Pulumi's SDKs are imported once (most of the cost
of a single plan). `--out` may hold `{stack}`; it must when several stacks are planned.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main(argv: list[str]) -> int:
    if argv[:1] == ["diff"]:
        if importlib.util.find_spec("plan.diff") is None:
            print("plan diff: plan/diff.py does not exist yet", file=sys.stderr)
            return 2
        diff = importlib.import_module("plan.diff")
        return int(diff.main(argv[1:]))

    parser = argparse.ArgumentParser(prog="python -m plan", description=__doc__)
    parser.add_argument(
        "--stack",
        action="append",
        help="stack to plan (Pulumi.<stack>.yaml); repeat for several; default dev",
    )
    parser.add_argument("--manifest", type=Path, help="artifact manifest (default: config)")
    parser.add_argument(
        "--out", help="plan file, `{stack}` replaced (default dist/plan-{stack}.json)"
    )
    args = parser.parse_args(argv)
    stacks: list[str] = args.stack or ["dev"]
    if args.out and len(stacks) > 1 and "{stack}" not in args.out:
        parser.error(
            f"--out {args.out!r} names one file for {len(stacks)} stacks; "
            "put {stack} in it, e.g. --out dist/plan-{stack}.json"
        )

    from components.manifest import ManifestError  # noqa: PLC0415 - after argparse, for --help speed
    from components.routes import RouteError  # noqa: PLC0415
    from components.service import ImageError  # noqa: PLC0415
    from components.settings import ConfigError  # noqa: PLC0415
    from plan.config import StackError  # noqa: PLC0415
    from plan.record import PlanError, run_plan, write_plan  # noqa: PLC0415

    for stack in stacks:
        out = Path(args.out.replace("{stack}", stack)) if args.out else None
        out = out or ROOT / "dist" / f"plan-{stack}.json"
        start = time.monotonic()
        try:
            entries = run_plan(stack, root=ROOT, manifest=args.manifest)
        except (ConfigError, ManifestError, RouteError, ImageError, StackError, PlanError) as exc:
            print(f"plan {stack}: {exc}", file=sys.stderr)
            return 1
        seconds = time.monotonic() - start
        write_plan(entries, out)
        counts = Counter(e["type"] for e in entries)
        width = max(len(t) for t in counts)
        print(f"plan {stack}: {out.relative_to(ROOT) if out.is_relative_to(ROOT) else out}")
        for type_, count in sorted(counts.items()):
            print(f"  {type_:<{width}}  {count:>3}")
        print(f"  {'total':<{width}}  {len(entries):>3}  ({seconds:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
