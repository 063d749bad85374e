"""`python -m policy.offline dist/plan-<stack>.json ...`: the policy pack over offline plans.

Prints one line per violation (rule, FSBP control, resource, message) and a summary per plan;
exits 1 when any plan violates a rule, 2 when a plan cannot be read. Checks that a computed
value keeps from deciding are listed as "undecided" (CrossGuard decides them at `pulumi up`).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from policy.engine import PlanError, evaluate, load_plan
from policy.rules import RULES
from policy.waivers import WAIVERS, Waiver


def main(argv: Sequence[str] | None = None) -> int:
    """Check each plan; the exit status says whether all passed."""
    parser = argparse.ArgumentParser(prog="python -m policy.offline", description=__doc__)
    parser.add_argument("plans", nargs="+", type=Path, help="dist/plan-<stack>.json files")
    parser.add_argument("--verbose", "-v", action="store_true", help="list undecided checks")
    args = parser.parse_args(argv)

    failed = False
    used: set[Waiver] = set()
    for path in args.plans:
        try:
            resources = load_plan(path)
        except PlanError as err:
            print(f"error: {err}", file=sys.stderr)
            return 2
        report = evaluate(resources)
        for violation in report.violations:
            print(f"{path}: {violation.line()}")
        for violation, waiver in report.waived:
            print(f"{path}: waived {violation.line()} -- {waiver.reason}")
        if args.verbose:
            for undecided in report.undecided:
                print(f"{path}: undecided {undecided.line()}")
        status = "ok" if report.ok else "FAILED"
        print(
            f"{path}: {status}: {len(RULES)} rules, {len(resources)} resources, "
            f"{report.checked} checks, {len(report.violations)} violations, "
            f"{len(report.waived)} waived, {len(report.undecided)} undecided"
        )
        failed = failed or not report.ok
        used.update(w for _, w in report.waived)
    for waiver in WAIVERS:
        if waiver not in used:
            print(f"note: waiver {waiver.rule} {waiver.resource!r} matched nothing; delete it")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
