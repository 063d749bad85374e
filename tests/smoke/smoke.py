"""Smoke test of a deployed stack: stack outputs in, exit status out.

    pulumi stack output --json -s sandbox > outputs.json
    SMOKE_TOKEN=<token with every scope> python tests/smoke/smoke.py --outputs outputs.json

For every route in app/routes.json (read at run time, never copied): no token answers 401, a
malformed token 403, and the valid token is let through (not 401/403, no 5xx; 200 on routes
without path parameters, which list data). Then `/healthz` through the load balancer answers
200. Prints one line per check and exits 1 if any failed. Needs a deployed stack, so CI runs it
only in deploy-sandbox.yml/promote.yml, never in `make test`.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

ROUTES = Path(__file__).resolve().parents[2] / "app" / "routes.json"
SMOKE_ID = "smoke-test"
TIMEOUT_S = 15


@dataclass(frozen=True)
class Check:
    """One request and what its answer must be."""

    label: str
    method: str
    url: str
    token: str | None
    ok: tuple[int, ...] | None  # None: "let through" (any status but 401, 403 and 5xx)


def load_routes(path: Path = ROUTES) -> list[tuple[str, str]]:
    """(method, path) of every route in the route table."""
    data = json.loads(path.read_text(encoding="utf-8"))
    return [(r["method"], r["path"]) for r in data["routes"]]


def concrete(path: str) -> str:
    """The route path with each `{param}` replaced by a test value."""
    return re.sub(r"\{[a-z_][a-z0-9_]*\}", SMOKE_ID, path)


def plan_checks(api_url: str, service_url: str, token: str) -> list[Check]:
    """Every request the smoke test makes."""
    checks: list[Check] = []
    for method, path in load_routes():
        url = api_url.rstrip("/") + concrete(path)
        name = f"{method} {path}"
        checks += [
            Check(f"{name} without a token", method, url, None, (401,)),
            Check(f"{name} with a bad token", method, url, "Bearer not-a-valid-token", (403,)),
            Check(
                f"{name} with the token",
                method,
                url,
                f"Bearer {token}",
                (200,) if method == "GET" and "{" not in path else None,
            ),
        ]
    checks.append(Check("GET /healthz via the ALB", "GET", service_url.rstrip("/") + "/healthz",
                        None, (200,)))  # fmt: skip
    return checks


def status_of(check: Check) -> int:
    """The HTTP status the check's request gets (0 when the request fails outright)."""
    body = b"{}" if check.method in ("POST", "PUT", "PATCH") else None
    request = urllib.request.Request(check.url, data=body, method=check.method)
    request.add_header("Content-Type", "application/json")
    if check.token:
        request.add_header("Authorization", check.token)
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:
            return int(response.status)
    except urllib.error.HTTPError as err:
        return int(err.code)
    except (urllib.error.URLError, TimeoutError):
        return 0


def passed(check: Check, status: int) -> bool:
    """Whether `status` is an acceptable answer to `check`."""
    if check.ok is None:
        return status != 0 and status not in (401, 403) and status < 500
    return status in check.ok


def main(argv: list[str] | None = None) -> int:
    """Run every check against the stack whose outputs are given."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--outputs", type=Path, required=True, help="pulumi stack output --json")
    parser.add_argument("--token-env", default="SMOKE_TOKEN", help="variable with a valid token")
    args = parser.parse_args(argv)
    outputs = json.loads(args.outputs.read_text(encoding="utf-8"))
    token = os.environ.get(args.token_env, "")
    missing = [k for k in ("api_url", "service_url") if not outputs.get(k)]
    if missing or not token:
        what = f"outputs {missing} in {args.outputs}" if missing else f"${args.token_env}"
        print(f"smoke: {what} missing; pass `pulumi stack output --json` and a valid token",
              file=sys.stderr)  # fmt: skip
        return 2
    failures = 0
    for check in plan_checks(outputs["api_url"], outputs["service_url"], token):
        status = status_of(check)
        ok = passed(check, status)
        failures += not ok
        expected = "not 401/403/5xx" if check.ok is None else "/".join(map(str, check.ok))
        print(f"{'ok  ' if ok else 'FAIL'} {check.label}: {status} (expected {expected})")
    print(f"smoke: {failures} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
