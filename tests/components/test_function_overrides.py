"""components/settings/functions.py: a stack's function.<name>.<field> keys over declarations."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from components.manifest import read_manifest
from components.settings import ConfigError, load_settings, resolve_functions
from plan.config import stack_config

ROOT = Path(__file__).resolve().parents[2]
NS = "rust-on-aws:"
MANIFEST = read_manifest(
    ROOT / "tests" / "fixtures" / "manifest.json", runtime="provided.al2023", architecture="x86_64"
)
DECLARED = {name: f.declaration for name, f in MANIFEST.functions.items()}


def resolve(stack: Any = "dev", **changes: Any):
    full = stack_config(stack, ROOT, {NS + k: v for k, v in changes.items()})
    raw = {k[len(NS) :]: v for k, v in full.items() if k.startswith(NS)}
    settings = load_settings(raw.get, stack=stack, configured=list(full))
    return resolve_functions(DECLARED, settings.lambdas, stack=stack)


def problems(stack: Any = "dev", **changes: Any) -> tuple[str, ...]:
    with pytest.raises(ConfigError) as info:
        resolve(stack, **changes)
    return info.value.errors


def test_without_overrides_the_declarations_hold() -> None:
    assert resolve("dev") == DECLARED


def test_the_stacks_overrides() -> None:
    prod = resolve("prod")
    assert {n: f.memory for n, f in prod.items()} == {
        "authorizer": 512,
        "handler": 512,
        "event": 512,
        "timer": 512,
        "migrate": DECLARED["migrate"].memory,
    }
    assert (prod["handler"].timeout, prod["event"].timeout) == (15, 120)
    assert prod["handler"].reserved_concurrency == 200
    assert prod["timer"].trigger.schedule == "cron(15 3 * * ? *)"
    sandbox = resolve("sandbox")
    assert sandbox["timer"].trigger.schedule == "rate(30 minutes)"
    assert sandbox["handler"].memory == 256


def test_env_and_reservation_overrides() -> None:
    fns = resolve(
        **{
            "function.timer.env.TOKEN_RETENTION_DAYS": "7",
            "function.timer.env.EXTRA_FLAG": "on",
            "function.handler.reserved-concurrency": 0,
        }
    )
    env = dict(fns["timer"].env)
    assert env["TOKEN_RETENTION_DAYS"] == "7"
    assert env["EXTRA_FLAG"] == "on"
    assert env["COMMAND_RETENTION_DAYS"] == "90"  # the declaration's, kept
    assert fns["handler"].reserved_concurrency is None  # 0: unreserved


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        (
            {"function.handlr.memory": 256},
            "rust-on-aws:function.handlr.memory: handlr is not a declared function (authorizer, "
            "event, handler, migrate, timer), got 256; fix: did you mean function.handler.memory? "
            "pulumi config rm function.handlr.memory -s dev",
        ),
        (
            {"function.handler.schedule": "rate(1 day)"},
            "rust-on-aws:function.handler.schedule: handler has trigger api, not schedule, got "
            "'rate(1 day)'; fix: pulumi config rm function.handler.schedule",
        ),
        (
            {"function.timer.schedule": "rate(1 hours)"},
            "rust-on-aws:function.timer.schedule: the rate unit must be singular for 1 and "
            "plural otherwise (EventBridge schedule syntax), got 'rate(1 hours)'; fix: pulumi "
            "config set function.timer.schedule 'rate(1 hour)' -s dev",
        ),
        (
            {"function.handler.timeout": 30},
            "rust-on-aws:function.handler.timeout: must be in 1..29 (seconds, API Gateway's "
            "integration limit), got 30; fix: pulumi config set function.handler.timeout '1' "
            "-s dev",
        ),
        (
            {"function.timer.timeout": 901},
            "rust-on-aws:function.timer.timeout: must be in 1..900 (seconds), got 901; fix: "
            "pulumi config set function.timer.timeout '1' -s dev",
        ),
        (
            {"function.event.memory": 64},
            "rust-on-aws:function.event.memory: must be in 128..10240 (MiB), got 64; fix: pulumi "
            "config set function.event.memory '128' -s dev",
        ),
        (
            {"function.event.env.DB_HOST": "elsewhere"},
            "rust-on-aws:function.event.env.DB_HOST: must name a variable of the function's own "
            "([A-Z][A-Z0-9_]*, not AWS_*, LAMBDA_* or one the program sets), got 'elsewhere'; "
            "fix: pulumi config rm function.event.env.DB_HOST",
        ),
        (
            {"function.handler.reserved-concurrency": 950},
            "rust-on-aws:lambdaConcurrencyQuota: the functions' reserved concurrency (handler "
            "950: 950 in all) must leave 100 of the account's quota unreserved, so at most 900, "
            "got 1000; fix: lower a function's reserved-concurrency, or raise the Service Quotas "
            "limit, then pulumi config set lambdaConcurrencyQuota '1050' -s dev",
        ),
    ],
)
def test_bad_overrides_are_refused_with_one_line(changes: dict, expected: str) -> None:
    assert problems(**changes) == (expected,)


def test_the_quota_counts_every_reservation() -> None:
    """Two functions of 450 fit a 1000 quota (100 stay unreserved); 451 does not; and the
    migration's own reservation of 1 is not one a declaration makes."""
    fits = {
        "function.handler.reserved-concurrency": 450,
        "function.event.reserved-concurrency": 450,
    }
    assert resolve(**fits)["handler"].reserved_concurrency == 450
    over = {**fits, "function.event.reserved-concurrency": 451}
    [line] = problems(**over)
    assert "(event 451, handler 450: 901 in all)" in line
    assert problems(
        **{"function.handler.reserved-concurrency": 250, "lambdaConcurrencyQuota": 300}
    )[0].startswith("rust-on-aws:lambdaConcurrencyQuota: the functions' reserved concurrency")


def test_every_problem_at_once() -> None:
    found = problems(
        **{"function.nope.memory": 256, "function.timer.memory": 1, "function.handler.timeout": 99}
    )
    assert [line.split(":")[1] for line in found] == [
        "function.handler.timeout",
        "function.nope.memory",
        "function.timer.memory",
    ]
