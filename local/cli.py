"""`python -m local`: serve the stack, invoke one function, deliver events, put it under load.

    python -m local serve                     # make local: everything, in the foreground
    python -m local invoke FUNCTION EVENT.json
    python -m local event schedule [--function F]
    python -m local event ecr-push --repository R --tag T
    python -m local load [--size small|default] [--out FILE]   # make load

`invoke` and `event` go to the stack `make local` is running (dist/local/state.json), or start
what the function needs for the one invocation and stop it again.
"""

from __future__ import annotations

import argparse
import base64
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from components.routes import RouteError
from declarations import resolve
from local.artifacts import declared, references
from local.events import ACCOUNT, ecr_push_event, pattern_matches, scheduled_event
from local.sandbox import SandboxError, free_port
from local.services import REGION, Moto
from local.stack import (
    ECR_REPOSITORY,
    ROOT,
    LocalStack,
    Ports,
    invoke_running,
    running,
    stop_signals_as_interrupt,
)


class CliError(Exception):
    """A user error: one line, exit status 2."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m local", description=__doc__.split("\n")[0])
    parser.add_argument("--dist", type=Path, default=ROOT / "dist", help="the build (dist/)")
    parser.add_argument("--app", type=Path, default=ROOT / "app", help="the workspace")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="the whole stack on 127.0.0.1, until Ctrl-C")
    defaults = Ports()
    serve.add_argument("--api-port", type=int, default=defaults.api)
    serve.add_argument("--server-port", type=int, default=defaults.server)
    serve.add_argument("--invoke-port", type=int, default=defaults.invoke)
    serve.add_argument("--postgres-port", type=int, default=defaults.postgres)
    serve.add_argument(
        "--ttl",
        type=int,
        default=300,
        help="authorizer cache TTL in seconds (authorizerCacheTtlSeconds; 0 to 3600)",
    )

    invoke = sub.add_parser("invoke", help="one invocation of one function's zip")
    invoke.add_argument("function")
    invoke.add_argument("event", type=Path, help="the event, a JSON file ('-': standard input)")

    event = sub.add_parser("event", help="deliver an EventBridge event to its functions")
    kinds = event.add_subparsers(dest="kind", required=True)
    schedule = kinds.add_parser("schedule", help="a schedule fires: every schedule function")
    schedule.add_argument("--function", help="only this function")
    push = kinds.add_parser("ecr-push", help="an image is pushed to ECR (moto's)")
    push.add_argument("--repository", default=ECR_REPOSITORY)
    push.add_argument("--tag", required=True)

    load = sub.add_parser("load", help="load and faults against a stack of its own")
    load.add_argument("--size", choices=("small", "default"), default="default")
    load.add_argument(
        "--out", type=Path, default=None, help="results JSON (default dist/load.json)"
    )
    load.add_argument("--postgres-port", type=int, default=55441)
    return parser


# ---------------------------------------------------------------------------------------------
# serve


def cmd_serve(args: argparse.Namespace) -> int:
    if not 0 <= args.ttl <= 3600:
        raise CliError(f"--ttl must be 0 to 3600 seconds as API Gateway allows, got {args.ttl}")
    ports = Ports(
        api=args.api_port,
        server=args.server_port,
        invoke=args.invoke_port,
        postgres=args.postgres_port,
    )
    stack = LocalStack(dist=args.dist, app=args.app, ports=ports, ttl_seconds=args.ttl)
    with stop_signals_as_interrupt():
        try:
            stack.start()
            print(stack.banner(), flush=True)
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            print("stopping ...", flush=True)
        finally:
            stack.stop()
    print("stopped: nothing left running", flush=True)
    return 0


# ---------------------------------------------------------------------------------------------
# invoke and events


def _read_event(path: Path) -> Any:
    try:
        text = sys.stdin.read() if str(path) == "-" else path.read_text()
    except OSError as exc:
        raise CliError(
            f"event file {path} cannot be read ({exc.strerror}): give a JSON file"
        ) from None
    try:
        return json.loads(text)
    except ValueError as exc:
        raise CliError(f"event file {path} is not JSON ({exc}): fix it") from None


def _one_shot(args: argparse.Namespace, functions: Sequence[str]) -> LocalStack:
    """A stack of only `functions` (and what they need) on free ports."""
    ports = Ports(api=free_port(), server=free_port(), invoke=free_port(), postgres=55442)
    stack = LocalStack(
        dist=args.dist,
        app=args.app,
        ports=ports,
        only=list(functions),
        server=False,
        work=args.dist / "local-invoke",
        say=lambda line: print(line, file=sys.stderr),
    )
    return stack.start()


def _print_invocation(
    function: str,
    payload: bytes,
    *,
    error: bool,
    cold: bool,
    init: str | None,
    took: str | None,
    log: str,
) -> None:
    print(f"--- {function} log", file=sys.stderr)
    print(log.rstrip(), file=sys.stderr)
    print("---", file=sys.stderr)
    if cold:
        print(f"init duration: {init or 'n/a'} ms (cold start)", file=sys.stderr)
    print(f"invoke duration: {took or 'n/a'} ms", file=sys.stderr)
    if error:
        print("function error (X-Amz-Function-Error: Unhandled)", file=sys.stderr)
    try:
        print(json.dumps(json.loads(payload), indent=2))
    except ValueError:
        print(payload.decode(errors="replace"))


def _invoke(args: argparse.Namespace, function: str, event: Any, stack: LocalStack | None) -> bool:
    """One invocation (the running stack's or `stack`'s); True when it did not error."""
    if stack is not None:
        done = stack.pools[function].invoke_detailed(
            event, float(stack.functions[function].timeout) + 5
        )
        _print_invocation(
            function,
            done.result.payload,
            error=done.result.function_error,
            cold=done.cold,
            init=None if done.init_duration_ms is None else f"{done.init_duration_ms:.1f}",
            took=None if done.duration_ms is None else f"{done.duration_ms:.1f}",
            log=done.log,
        )
        return not done.result.function_error
    state = running(args.dist)
    assert state is not None
    status, body, headers = invoke_running(state, function, event)
    if status != 200:
        raise CliError(f"the running stack answered {status} for {function}: {body.decode()[:300]}")
    log = base64.b64decode(headers.get("x-amz-log-result", "")).decode(errors="replace")
    error = "x-amz-function-error" in headers
    _print_invocation(
        function,
        body,
        error=error,
        cold=headers.get("x-local-cold-start") == "true",
        init=headers.get("x-local-init-duration-ms"),
        took=headers.get("x-local-duration-ms"),
        log=log,
    )
    return not error


def _with_functions(args: argparse.Namespace, functions: Sequence[str], work: Any) -> int:
    """Run `work(stack or None)` against the running stack, or a one-shot one."""
    state = running(args.dist)
    if state is not None:
        missing = sorted(set(functions) - set(state.get("functions", [])))
        if missing:
            raise CliError(f"the running stack has no function {', '.join(missing)}")
        return int(work(None, state))
    stack = _one_shot(args, functions)
    try:
        return int(work(stack, None))
    finally:
        stack.stop()


def cmd_invoke(args: argparse.Namespace) -> int:
    event = _read_event(args.event)
    functions = declared(args.app)
    if args.function not in functions:
        raise CliError(
            f"no declared function {args.function!r}; {args.app} declares "
            f"{', '.join(sorted(functions))}"
        )
    return _with_functions(
        args,
        [args.function],
        lambda stack, _: 0 if _invoke(args, args.function, event, stack) else 1,
    )


def _targets(args: argparse.Namespace, kind: str, event: dict[str, Any] | None) -> list[str]:
    functions = declared(args.app)
    refs = references(stack="local", region=REGION, account=ACCOUNT, ecr_repository=ECR_REPOSITORY)
    names = []
    for name, decl in sorted(functions.items()):
        if decl.trigger.kind != kind:
            continue
        if kind == "event-pattern" and event is not None:
            pattern = resolve(decl.trigger.pattern, refs.__getitem__, "".join)
            if not pattern_matches(pattern, event):
                continue
        names.append(name)
    return names


def cmd_event(args: argparse.Namespace) -> int:
    if args.kind == "schedule":
        targets = _targets(args, "schedule", None)
        if args.function:
            if args.function not in targets:
                raise CliError(
                    f"{args.function} is not a schedule function; schedule functions: "
                    f"{', '.join(targets) or 'none'}"
                )
            targets = [args.function]
        if not targets:
            raise CliError(f'{args.app} declares no function with trigger = "schedule"')

        def fire(stack: LocalStack | None, _state: Any) -> int:
            ok = True
            for name in targets:
                event = scheduled_event(f"rust-on-aws-local-{name}", region=REGION)
                ok &= _invoke(args, name, event, stack)
            return 0 if ok else 1

        return _with_functions(args, targets, fire)
    # ecr-push: push to moto's ECR, then EventBridge's rules decide who gets the event.
    candidates = _targets(args, "event-pattern", None)
    if not candidates:
        raise CliError(f'{args.app} declares no function with trigger = "event-pattern"')

    def push(stack: LocalStack | None, state: Any) -> int:
        moto = stack.moto if stack is not None else Moto(state["moto"])
        assert moto is not None
        digest = moto.push_image(args.repository, args.tag)
        event = ecr_push_event(args.repository, args.tag, digest, region=REGION)
        targets = _targets(args, "event-pattern", event)
        print(
            f"pushed {args.repository}:{args.tag} ({digest[:19]}...) to moto's ECR", file=sys.stderr
        )
        if not targets:
            print(
                "no function's event pattern matches this event: EventBridge delivers nothing",
                file=sys.stderr,
            )
            return 0
        ok = True
        for name in targets:
            ok &= _invoke(args, name, event, stack)
        return 0 if ok else 1

    return _with_functions(args, candidates, push)


# ---------------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "serve":
            return cmd_serve(args)
        if args.command == "invoke":
            return cmd_invoke(args)
        if args.command == "event":
            return cmd_event(args)
        if args.command == "load":
            from local.load import main as load_main  # noqa: PLC0415 (heavier imports)

            return load_main(args)
    except (CliError, SandboxError, RouteError) as exc:
        print(f"local: {exc}", file=sys.stderr)
        return 2
    raise AssertionError(args.command)
