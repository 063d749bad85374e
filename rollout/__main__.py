"""`python -m rollout (--stack S | --outputs FILE) [--only KEY] [--poll-seconds N]
[--timeout-minutes N] [--region R]`

Exit status: 0 when every function is on its new version (or none changed), 1 when a
deployment failed, was rolled back, timed out or could not start, 2 when the input is unusable.
Endpoints come from the usual AWS variables (AWS_ENDPOINT_URL, AWS_ENDPOINT_URL_CODEDEPLOY, ...),
which is how the tests point it at moto and the CodeDeploy fake.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from rollout.deploy import Outcome, Rollout
from rollout.targets import RolloutError, load_outputs, read_plan


def _table(outcomes: Sequence[Outcome]) -> str:
    rows = [("function", "from", "to", "deployment", "result", "seconds")]
    rows += [
        (
            o.target.key,
            o.current or "-",
            o.target.version,
            o.deployment_id or "-",
            o.result,
            f"{o.seconds:.1f}",
        )
        for o in outcomes
    ]
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m rollout", description=__doc__)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--stack", help="read the outputs with `pulumi stack output --json`")
    source.add_argument("--outputs", type=Path, help="a file of `pulumi stack output --json`")
    parser.add_argument(
        "--only", action="append", default=[], help="roll out this function key only (repeat)"
    )
    parser.add_argument("--poll-seconds", type=float, default=15.0, help="default 15")
    parser.add_argument(
        "--timeout-minutes",
        type=float,
        help="stop (and roll back) a deployment running longer; default: the output's",
    )
    parser.add_argument("--region", help="AWS region (default: the environment's)")
    args = parser.parse_args(argv)

    try:
        plan = read_plan(load_outputs(args.outputs, args.stack))
    except RolloutError as err:
        print(f"rollout: {err}", file=sys.stderr)
        return 2
    known = {t.key for t in plan.targets}
    unknown = sorted(set(args.only) - known)
    if unknown:
        print(
            f"rollout: --only names functions the stack does not deploy through CodeDeploy, got "
            f"{unknown}; fix: one of {sorted(known)}",
            file=sys.stderr,
        )
        return 2
    if args.only:
        plan = type(plan)(
            plan.application,
            plan.deployment_config,
            plan.strategy,
            plan.timeout_minutes,
            tuple(t for t in plan.targets if t.key in args.only),
        )

    import boto3  # noqa: PLC0415 - after argparse, so --help and input errors are fast
    from botocore.exceptions import BotoCoreError, ClientError  # noqa: PLC0415

    session = boto3.session.Session(region_name=args.region)
    start = time.monotonic()
    print(
        f"rollout: {len(plan.targets)} function(s) of application {plan.application}, "
        f"{plan.strategy} ({plan.deployment_config})"
    )
    rollout = Rollout(
        plan,
        lambda_client=session.client("lambda"),
        codedeploy=session.client("codedeploy"),
        report=lambda line: print(line, flush=True),
        poll_seconds=args.poll_seconds,
        timeout_seconds=args.timeout_minutes * 60 if args.timeout_minutes is not None else None,
    )
    try:
        outcomes = rollout.run()
    except (BotoCoreError, ClientError) as err:
        print(
            f"rollout: an AWS call failed ({err}); deployments already started go on in "
            "CodeDeploy (and roll back on alarm); fix: check credentials, region and network, "
            "then run again",
            file=sys.stderr,
        )
        return 1
    print()
    print(_table(outcomes))
    bad = [o for o in outcomes if not o.ok]
    counts = ", ".join(
        f"{sum(1 for o in outcomes if o.result == r)} {r}"
        for r in dict.fromkeys(o.result for o in outcomes)
    )
    print(f"rollout: {counts} in {time.monotonic() - start:.1f} s")
    for outcome in bad:
        print(f"rollout: {outcome.target.key} {outcome.result}: {outcome.detail}", file=sys.stderr)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
