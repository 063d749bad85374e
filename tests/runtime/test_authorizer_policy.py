"""The authorizer's policies, evaluated the way API Gateway evaluates them, grant exactly a token's
routes: for every combination of the route table's scopes, over every concrete request of every
route of app/routes.json.

The authorizer zip runs under aws-lambda-rie in the minimal root against the test database; its
answers are decided by `local.apigw_policy` (API Gateway's documented matching: `*` spans any
characters, `/` included; an explicit Deny wins; nothing matching denies). API Gateway caches
one policy per token and evaluates it against every later request with that token, so each
policy must be right for every route, whichever route was being called when it was issued.
"""

from __future__ import annotations

import hashlib
import itertools
import secrets
import string
from collections.abc import Callable, Iterator

import pytest

from components.routes import Route, load_routes
from local.apigw_policy import Stage, allowed, concrete_paths
from local.sandbox import RieFunction
from tests.runtime.services import OWNER, REGION, ROOT, Database, sample_events

pytestmark = [pytest.mark.rie, pytest.mark.postgres]

ROUTES: tuple[Route, ...] = load_routes(ROOT / "app" / "routes.json")
SCOPES = sorted({r.scope for r in ROUTES})
STAGE = Stage(region=REGION, account="123456789012", api_id="abcdef1234", stage="v1")
#: Path parameter values a client might send: plain, with the characters ids allow, and values
#: equal to a literal segment of the table (a parameter can hold any single segment).
SAMPLES = ("d1", "sensor-7_b", "commands", "tags", "x" * 64)
REQUESTS: dict[tuple[str, str], Route] = {
    (route.method, path): route for route in ROUTES for path in concrete_paths(route.path, SAMPLES)
}


def combinations() -> list[tuple[str, ...]]:
    return [c for n in range(len(SCOPES) + 1) for c in itertools.combinations(SCOPES, n)]


def insert_token(db: Database, scopes: tuple[str, ...]) -> str:
    lower = string.ascii_lowercase + string.digits
    token_id = "".join(secrets.choice(lower) for _ in range(12))
    secret = "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(40))
    token = f"roa_{token_id}_{secret}"
    array = "ARRAY[" + ",".join(f"'{s}'" for s in scopes) + "]::text[]"
    db.sql(
        "INSERT INTO api_tokens (id, token_sha256, owner, scopes) VALUES "
        f"('{token_id}', '{hashlib.sha256(token.encode()).hexdigest()}', '{OWNER}', {array})"
    )
    return token


@pytest.fixture(scope="module")
def authorizer(start_function: Callable[..., RieFunction]) -> Iterator[RieFunction]:
    yield start_function("authorizer")


def policy_for(fn: RieFunction, token: str, called: tuple[str, str]) -> dict:
    event = next(e for e in sample_events("authorizer").values() if e.get("type") == "TOKEN")
    event = {**event, "authorizationToken": f"Bearer {token}"}
    event["methodArn"] = STAGE.method_arn(*called)
    result = fn.invoke(event)
    assert result.status == 200 and not result.is_function_error, result.body
    return dict(result.json())


def test_the_request_space_covers_every_route() -> None:
    assert {(r.method, r.path) for r in REQUESTS.values()} == {(r.method, r.path) for r in ROUTES}
    assert len(combinations()) == 2 ** len(SCOPES)


@pytest.mark.parametrize("scopes", combinations(), ids=lambda c: "+".join(c) or "none")
def test_allowed_requests_are_exactly_the_granted_routes(
    scopes: tuple[str, ...], authorizer: RieFunction, database: Database
) -> None:
    token = insert_token(database, scopes)
    granted = {request for request, route in REQUESTS.items() if route.scope in scopes}
    # The policy is cached per token: whichever route is called first, it must be exact.
    for called in sorted(REQUESTS)[:: max(1, len(REQUESTS) // 4)]:
        out = policy_for(authorizer, token, called)
        assert allowed(out["policyDocument"], STAGE, REQUESTS) == granted, (
            f"scopes {scopes}, first call {called}: policy {out['policyDocument']}"
        )
        if scopes:
            assert set(out["context"]["scopes"].split()) == set(scopes)
