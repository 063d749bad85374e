"""``python -m bench.plan_warm OUT STACK... [--runs N]``: plans in one Python process.

The first plan pays for importing Pulumi and the AWS provider's generated modules; the others
show what a plan costs once they are loaded. Writes ``{"import_seconds": s, "plans": [[stack,
seconds], ...]}`` to OUT; run by bench/plantime.py as a subprocess.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.plan_warm")
    parser.add_argument("out", type=Path)
    parser.add_argument("stacks", nargs="+")
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--manifest", type=Path, default=Path("tests/fixtures/manifest.json"))
    args = parser.parse_args(argv)
    start = time.perf_counter()
    from plan.record import run_plan  # noqa: PLC0415 - the import is what is measured

    imported = time.perf_counter() - start
    plans = []
    for _ in range(args.runs):
        for stack in args.stacks:
            start = time.perf_counter()
            run_plan(stack, root=REPO, manifest=args.manifest)
            plans.append([stack, time.perf_counter() - start])
    args.out.write_text(json.dumps({"import_seconds": imported, "plans": plans}) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
