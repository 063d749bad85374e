"""The functions section: per-stack overrides of what each crate declares.

A function's settings start from its declaration in its crate's Cargo.toml (declarations/,
recorded in the artifact manifest) and a stack may override them, one key per function and
field, in the declaration's own vocabulary::

    rust-on-aws:function.handler.memory: 512
    rust-on-aws:function.handler.reserved-concurrency: 200
    rust-on-aws:function.timer.schedule: cron(15 3 * * ? *)
    rust-on-aws:function.timer.env.TOKEN_RETENTION_DAYS: "14"

`read_functions` (with the other settings, before the manifest is read) checks each value's
type; `resolve_functions` (once the manifest names the functions, before any resource) checks
the rest: the function exists, the field applies to its trigger, the limits, and the account's
concurrency quota. Both report every problem at once, in the settings' one-line format.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace

from components.settings.reader import PROJECT, ConfigError, Reader
from declarations import (
    API_TRIGGERS,
    ENV_NAME,
    PROGRAM_ENV,
    FunctionDeclaration,
    schedule_problem,
)

PREFIX = "function."
FIELDS = ("memory", "timeout", "reserved-concurrency", "schedule", "env")
UNRESERVED_MINIMUM = 100
"""Executions Lambda keeps unreserved in every account and region."""
_KEY = re.compile(r"function\.(?P<name>[^.]+)\.(?P<field>[^.]+)(?:\.(?P<var>.+))?")


@dataclass(frozen=True, kw_only=True)
class FunctionOverride:
    """One `function.<name>.<field>[.<VAR>]` key of the stack, its value typed."""

    key: str
    name: str
    field: str
    var: str | None
    value: int | str


@dataclass(frozen=True, kw_only=True)
class LambdaSettings:
    overrides: tuple[FunctionOverride, ...]
    concurrency_quota: int
    """The account's Lambda concurrent-executions quota in the region (lambdaConcurrencyQuota)."""


def override_keys(configured: Iterable[str]) -> list[str]:
    """The stack's `function.*` keys (short form), sorted."""
    marker = f"{PROJECT}:{PREFIX}"
    return sorted(k.split(":", 1)[1] for k in configured if k.startswith(marker))


def _typed(r: Reader, key: str, field: str, text: str | None) -> int | str | None:
    value = "" if text is None else str(text)
    if field in ("memory", "timeout", "reserved-concurrency"):
        if not re.fullmatch(r"[0-9]+", value.strip()):
            r.fail(key, "must be a whole number", text, r.set_fix(key, 128))
            return None
        return int(value)
    return value


def read_functions(r: Reader, configured: Iterable[str]) -> LambdaSettings:
    overrides = []
    for key in override_keys(configured):
        match = _KEY.fullmatch(key)
        if not match:
            r.fail(
                key,
                "must be function.<name>.<field> (or function.<name>.env.<VAR>)",
                r.raw(key),
                f"fix: pulumi config rm {key} -s {r.stack}",
            )
            continue
        name, field, var = match["name"], match["field"], match["var"]
        if field not in FIELDS:
            near = difflib.get_close_matches(field, list(FIELDS), n=1)
            hint = f"did you mean function.{name}.{near[0]}? " if near else ""
            r.fail(
                key,
                f"{field} is not a field a stack may override ({', '.join(FIELDS)})",
                r.raw(key),
                f"fix: {hint}pulumi config rm {key} -s {r.stack}",
            )
            continue
        if (field == "env") != (var is not None):
            r.fail(
                key,
                "env takes a variable name (function.<name>.env.<VAR>), the other fields none",
                r.raw(key),
                f"fix: pulumi config rm {key} -s {r.stack}",
            )
            continue
        value = _typed(r, key, field, r.raw(key))
        if value is not None:
            overrides.append(
                FunctionOverride(key=key, name=name, field=field, var=var, value=value)
            )
    return LambdaSettings(
        overrides=tuple(overrides),
        concurrency_quota=r.integer(
            "lambdaConcurrencyQuota", 100, 1_000_000, "concurrent executions"
        ),
    )


def resolve_functions(
    declared: Mapping[str, FunctionDeclaration], settings: LambdaSettings, *, stack: str
) -> dict[str, FunctionDeclaration]:
    """Each declared function with the stack's overrides applied; ConfigError with every
    problem (an override of no function, a field its trigger has not, a value out of range,
    reservations over the quota)."""
    errors: list[str] = []

    def fail(key: str, rule: str, value: object, fix: str) -> None:
        errors.append(f"{PROJECT}:{key}: {rule}, got {value!r}; {fix}")

    def set_fix(key: str, example: object) -> str:
        return f"fix: pulumi config set {key} '{example}' -s {stack}"

    resolved = dict(declared)
    for o in settings.overrides:
        fn = resolved.get(o.name)
        if fn is None:
            near = difflib.get_close_matches(o.name, list(declared), n=1)
            hint = f"did you mean function.{near[0]}.{o.field}? " if near else ""
            fail(
                o.key,
                f"{o.name} is not a declared function ({', '.join(sorted(declared))})",
                o.value,
                f"fix: {hint}pulumi config rm {o.key} -s {stack}",
            )
            continue
        changed = _apply(fn, o, fail, set_fix)
        if changed is not None:
            resolved[o.name] = changed
    reserved = {n: f.reserved_concurrency for n, f in resolved.items() if f.reserved_concurrency}
    ceiling = settings.concurrency_quota - UNRESERVED_MINIMUM
    if sum(reserved.values()) > ceiling:
        # Lambda refuses reservations that leave the account fewer than 100 unreserved
        # executions (https://docs.aws.amazon.com/lambda/latest/dg/configuration-concurrency.html).
        shown = ", ".join(f"{n} {c}" for n, c in sorted(reserved.items()))
        total = sum(reserved.values())
        raise_quota = set_fix("lambdaConcurrencyQuota", total + UNRESERVED_MINIMUM)
        fail(
            "lambdaConcurrencyQuota",
            f"the functions' reserved concurrency ({shown}: {total} in all) must leave "
            f"{UNRESERVED_MINIMUM} of the account's quota unreserved, so at most {ceiling}",
            settings.concurrency_quota,
            "fix: lower a function's reserved-concurrency, or raise the Service Quotas limit, "
            f"then {raise_quota.removeprefix('fix: ')}",
        )
    if errors:
        raise ConfigError(stack, errors)
    return resolved


Fail = Callable[[str, str, object, str], None]
SetFix = Callable[[str, object], str]


def _number(
    o: FunctionOverride, lo: int, hi: int, unit: str, *, fail: Fail, set_fix: SetFix
) -> int | None:
    if not isinstance(o.value, int) or not lo <= o.value <= hi:
        fail(o.key, f"must be in {lo}..{hi} ({unit})", o.value, set_fix(o.key, lo))
        return None
    return o.value


def _schedule(
    fn: FunctionDeclaration, o: FunctionOverride, fail: Fail, set_fix: SetFix
) -> FunctionDeclaration | None:
    if fn.trigger.kind != "schedule":
        fail(
            o.key,
            f"{fn.name} has trigger {fn.trigger.kind}, not schedule",
            o.value,
            f"fix: pulumi config rm {o.key}",
        )
        return None
    problem = schedule_problem(str(o.value))
    if problem:
        fail(
            o.key,
            f"{problem} (EventBridge schedule syntax)",
            o.value,
            set_fix(o.key, "rate(1 hour)"),
        )
        return None
    return replace(fn, trigger=replace(fn.trigger, schedule=str(o.value)))


def _env_var(
    fn: FunctionDeclaration, o: FunctionOverride, fail: Fail
) -> FunctionDeclaration | None:
    var = o.var or ""
    if not ENV_NAME.fullmatch(var) or var.startswith(("AWS_", "LAMBDA_")) or var in PROGRAM_ENV:
        fail(
            o.key,
            "must name a variable of the function's own ([A-Z][A-Z0-9_]*, not AWS_*, LAMBDA_* or "
            "one the program sets)",
            o.value,
            f"fix: pulumi config rm {o.key}",
        )
        return None
    env = dict(fn.env)
    env[var] = str(o.value)
    return replace(fn, env=tuple(sorted(env.items())))


def _apply(
    fn: FunctionDeclaration, o: FunctionOverride, fail: Fail, set_fix: SetFix
) -> FunctionDeclaration | None:
    """`fn` with the override `o` applied, or None after reporting why it cannot be."""
    if o.field == "memory":
        memory = _number(o, 128, 10240, "MiB", fail=fail, set_fix=set_fix)
        return None if memory is None else replace(fn, memory=memory)
    if o.field == "timeout":
        api = fn.trigger.kind in API_TRIGGERS
        unit = "seconds, API Gateway's integration limit" if api else "seconds"
        timeout = _number(o, 1, 29 if api else 900, unit, fail=fail, set_fix=set_fix)
        return None if timeout is None else replace(fn, timeout=timeout)
    if o.field == "reserved-concurrency":
        reserved = _number(
            o, 0, 1_000_000, "executions; 0 for unreserved", fail=fail, set_fix=set_fix
        )
        return None if reserved is None else replace(fn, reserved_concurrency=reserved or None)
    if o.field == "schedule":
        return _schedule(fn, o, fail, set_fix)
    return _env_var(fn, o, fail)
