"""EventBridge schedule expressions: rate(...) and cron(...), checked as AWS documents them."""

from __future__ import annotations

import re
from collections.abc import Sequence

_RATE = re.compile(r"rate\((?P<n>[0-9]+) (?P<unit>minute|minutes|hour|hours|day|days)\)")
_CRON_FIELDS = (
    # name, low, high, names, extra single tokens allowed
    ("minutes", 0, 59, (), ()),
    ("hours", 0, 23, (), ()),
    ("day-of-month", 1, 31, (), ("?", "L", "W")),
    (
        "month",
        1,
        12,
        ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"),
        (),
    ),
    ("day-of-week", 1, 7, ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"), ("?", "L")),
    ("year", 1970, 2199, (), ()),
)


def _cron_value(token: str, lo: int, hi: int, names: Sequence[str]) -> bool:
    if token.upper() in names:
        return True
    return token.isdigit() and lo <= int(token) <= hi


def _cron_field_ok(
    field: str, lo: int, hi: int, names: Sequence[str], extra: Sequence[str]
) -> bool:
    if field in ("*", *extra):
        return True
    for item in field.split(","):
        base, _, step = item.partition("/")
        if step and not (step.isdigit() and int(step) > 0):
            return False
        if base == "*" and step:
            continue
        if lo == 1 and hi == 31 and re.fullmatch(r"[0-9]{1,2}W", base):  # nearest weekday
            base = base[:-1]
        if lo == 1 and hi == 7 and re.fullmatch(r"[1-7](#[1-5]|L)", base):  # nth / last weekday
            continue
        first, _, last = base.partition("-")
        if not _cron_value(first, lo, hi, names) or (last and not _cron_value(last, lo, hi, names)):
            return False
    return True


def _rate_problem(expression: str) -> str | None:
    match = _RATE.fullmatch(expression)
    if not match:
        return "must be rate(<positive integer> minute(s)|hour(s)|day(s))"
    n, unit = int(match["n"]), match["unit"]
    if n == 0:
        return "the rate value must be positive"
    if (n == 1) == unit.endswith("s"):
        return "the rate unit must be singular for 1 and plural otherwise"
    return None


def _cron_problem(expression: str) -> str | None:
    fields = expression[5:-1].split()
    if len(fields) != 6:
        return "cron takes six fields (minutes hours day-of-month month day-of-week year)"
    for value, (name, lo, hi, names, extra) in zip(fields, _CRON_FIELDS, strict=True):
        if not _cron_field_ok(value, lo, hi, names, extra):
            return f"cron field {name} {value!r} is not valid ({lo}..{hi}, , - * /)"
    if (fields[2] == "?") == (fields[4] == "?"):
        return "exactly one of day-of-month and day-of-week must be ?"
    return None


def schedule_problem(expression: str) -> str | None:
    """Why `expression` is not a valid EventBridge schedule expression, or None if it is.

    rate(N unit): N a positive integer, unit minute(s)/hour(s)/day(s), singular exactly when N is 1.
    cron(min hour day-of-month month day-of-week year): six fields; one of day-of-month and
    day-of-week must be `?`.
    """
    if expression.startswith("rate("):
        return _rate_problem(expression)
    if expression.startswith("cron(") and expression.endswith(")"):
        return _cron_problem(expression)
    return "must be rate(...) or cron(...)"
