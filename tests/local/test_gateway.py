"""local/gateway.py against API Gateway REST's documented behaviour and the sample events.

Expected values come from AWS's documentation (cited per test), the sample events of
app/events/handler (the proxy event v1 as AWS documents it), app/token-cases.json and the route
table; the fakes below answer like app/authorizer and echo the event like a proxy function.
"""

from __future__ import annotations

import base64
import http.client
import itertools
import json
import re
import socket
import threading
import uuid
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from components.routes import IDENTITY_VALIDATION, Route, load_routes
from local.apigw_policy import Stage, concrete_paths
from local.gateway import (
    LAMBDA_PAYLOAD_BYTES,
    MAX_REQUEST_BYTES,
    FrontDoor,
    InvokeTimeout,
    LambdaResult,
    Response,
    serve,
)

ROOT = Path(__file__).resolve().parents[2]
ROUTES = load_routes(ROOT / "app" / "routes.json")
SCOPES = sorted({r.scope for r in ROUTES})
EVENTS = ROOT / "app" / "events" / "handler"
# The stage of the sample events (their methodArn and requestContext).
STAGE = Stage(region="eu-west-1", account="123456789012", api_id="a1b2c3d4e5", stage="prod")
SAMPLE_TIME = 1795712400.0  # the samples' requestTimeEpoch, 26/Nov/2026:17:00:00 +0000
TOKEN = "Bearer roa_sample000001_S3cretS3cretS3cretS3cretS3cretS3cretS3cr"
OTHER = "Bearer roa_other0000001_S3cretS3cretS3cretS3cretS3cretS3cretS3cr"
SAMPLES = ("sensor-1", "devices", "a%20b", "x%2Fy")
"""Path parameter values: plain, equal to a literal, percent-encoded, an encoded slash."""

MISSING_TOKEN = b'{"message":"Missing Authentication Token"}'
UNAUTHORIZED = b'{"message":"Unauthorized"}'
EXPLICIT_DENY = (
    b'{"Message":"User is not authorized to access this resource with an explicit deny"}'
)
IMPLICIT_DENY = b'{"Message":"User is not authorized to access this resource"}'
AUTHORIZER_ERROR = b'{"message": null}'
INTERNAL = b'{"message": "Internal server error"}'
TIMED_OUT = b'{"message": "Endpoint request timed out"}'
TOO_LONG = b'{"message":"Request Too Long"}'


def arn_suffix(route: Route) -> str:
    """A route in a policy ARN as app/core/src/routes.rs writes it: each `{param}` as `*`."""
    return "/".join([route.method, *("*" if s.startswith("{") else s for s in route.segments)])


def policy_like_the_authorizer(prefix: str, granted: Iterable[Route]) -> dict[str, Any]:
    """app/core/src/auth.rs `authorize`: Allow the granted routes, Deny each other route that a
    granted route's `*` also matches; Deny the whole stage when nothing is granted."""
    allow = list(granted)
    deny = [
        r for r in ROUTES if r not in allow and any(g.pattern_matches_requests_of(r) for g in allow)
    ]
    statements = []
    if allow:
        statements.append(
            {
                "Action": "execute-api:Invoke",
                "Effect": "Allow",
                "Resource": [f"{prefix}/{arn_suffix(r)}" for r in allow],
            }
        )
    if deny or not allow:
        resources = [f"{prefix}/{arn_suffix(r)}" for r in deny] if allow else [f"{prefix}/*/*"]
        statements.append({"Action": "execute-api:Invoke", "Effect": "Deny", "Resource": resources})
    return {"Version": "2012-10-17", "Statement": statements}


def output(
    principal: str, policy: Mapping[str, Any], context: Mapping[str, Any] | None = None
) -> LambdaResult:
    doc: dict[str, Any] = {"principalId": principal, "policyDocument": policy}
    if context is not None:
        doc["context"] = context
    return LambdaResult(json.dumps(doc).encode(), function_error=False)


def error(message: str, error_type: str = "Unauthorized") -> LambdaResult:
    return LambdaResult(
        json.dumps({"errorType": error_type, "errorMessage": message}).encode(), True
    )


class FakeAuthorizer:
    """Per token: a set of scopes (a policy like the real one), "only-called" (Allow exactly the
    method ARN being called), a `LambdaResult` returned as is, or an exception raised. Tokens
    it does not know get the real authorizer's unknown-token answer: Deny the whole stage."""

    def __init__(self, behaviour: Mapping[str, Any] | None = None) -> None:
        self.behaviour = dict(behaviour or {TOKEN: frozenset(SCOPES)})
        self.events: list[dict[str, Any]] = []
        self.timeouts: list[float] = []
        self.context: dict[str, Any] = {"scopes": " ".join(SCOPES), "token_id": "sample000001"}
        self.principal = "alice@example.com"

    def __call__(self, event: dict[str, Any], timeout: float) -> LambdaResult:
        self.events.append(event)
        self.timeouts.append(timeout)
        what = self.behaviour.get(event["authorizationToken"])
        arn = event["methodArn"]
        prefix = "/".join(arn.split("/")[:2])
        if isinstance(what, BaseException):
            raise what
        if isinstance(what, LambdaResult):
            return what
        if what == "only-called":
            allow = {"Effect": "Allow", "Action": "execute-api:Invoke", "Resource": [arn]}
            return output(
                self.principal, {"Version": "2012-10-17", "Statement": [allow]}, self.context
            )
        if what is None:
            return output("unknown", policy_like_the_authorizer(prefix, []))
        granted = [r for r in ROUTES if r.scope in what]
        return output(self.principal, policy_like_the_authorizer(prefix, granted), self.context)


class FakeHandler:
    """A proxy function that answers 200 with the event it got as its JSON body, or `reply`."""

    def __init__(self, reply: LambdaResult | BaseException | None = None) -> None:
        self.reply = reply
        self.events: list[dict[str, Any]] = []
        self.timeouts: list[float] = []

    def __call__(self, event: dict[str, Any], timeout: float) -> LambdaResult:
        self.events.append(event)
        self.timeouts.append(timeout)
        if isinstance(self.reply, BaseException):
            raise self.reply
        if self.reply is not None:
            return self.reply
        body = json.dumps(event)
        return LambdaResult(
            json.dumps(
                {"statusCode": 200, "headers": {"Content-Type": "application/json"}, "body": body}
            ).encode(),
            False,
        )


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def door(
    authorizer: FakeAuthorizer | None = None, handler: FakeHandler | None = None, **kwargs: Any
) -> tuple[FrontDoor, FakeAuthorizer, FakeHandler]:
    auth = authorizer or FakeAuthorizer()
    hand = handler or FakeHandler()
    kwargs.setdefault("stage", STAGE)
    kwargs.setdefault("clock", Clock())
    kwargs.setdefault("wall_clock", lambda: SAMPLE_TIME)
    return FrontDoor(ROUTES, authorizer=auth, handler=hand, **kwargs), auth, hand


def get(
    front: FrontDoor,
    target: str,
    *,
    method: str = "GET",
    token: str | None = TOKEN,
    headers: Iterable[tuple[str, str]] = (),
    body: bytes = b"",
) -> Response:
    sent = [*headers, *([("Authorization", token)] if token is not None else [])]
    return front.handle(method, target, sent, body)


def assert_gateway_error(r: Response, status: int, body: bytes, error_type: str | None) -> None:
    assert (r.status, r.body) == (status, body)
    assert r.header("Content-Type") == "application/json"
    assert r.header("x-amzn-ErrorType") == error_type
    assert_ids(r)


def assert_ids(r: Response) -> None:
    """Every answer carries $context.requestId as x-amzn-RequestId (context variable reference,
    https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-mapping-template-reference.html)."""
    assert r.header("x-amzn-RequestId") == r.request_id
    uuid.UUID(r.request_id)
    assert r.header("x-amz-apigw-id")


def echoed(r: Response) -> dict[str, Any]:
    assert r.status == 200, r.body
    event: dict[str, Any] = r.json()
    return event


# -- routing: https://docs.aws.amazon.com/apigateway/latest/developerguide/supported-gateway-response-types.html
# (MISSING_AUTHENTICATION_TOKEN) and https://repost.aws/knowledge-center/api-gateway-authentication-token-errors


@pytest.mark.parametrize(
    ("method", "target"),
    [
        ("GET", "/nope"),
        ("GET", "/"),
        (
            "DELETE",
            "/devices",
        ),  # a resource without the method (app/events/handler/method-not-allowed.json)
        ("GET", "/admin"),  # app/events/handler/unknown-route.json
        ("PUT", "/devices/sensor-1"),
        ("GET", "/devices/a/b/c"),
        ("GET", "/devices/sensor-1/commands/extra"),
        ("GET", "/Devices"),  # resource paths are case-sensitive
        ("HEAD", "/devices"),  # REST APIs do not answer HEAD with GET
        ("OPTIONS", "/devices"),  # no CORS preflight method is deployed
        ("get", "/devices"),  # methods are case-sensitive
        ("FOO", "/devices"),
        ("GET", "//devices"),  # an empty segment matches no resource (decision: module docstring)
        ("GET", "/devices//commands"),
        ("GET", "/devices//"),
        ("POST", "/images"),
    ],
)
def test_no_resource_or_no_method_is_missing_authentication_token(method: str, target: str) -> None:
    front, auth, hand = door()
    r = get(front, target, method=method)
    assert_gateway_error(r, 403, MISSING_TOKEN, "MissingAuthenticationTokenException")
    assert r.outcome == "missing-token"
    assert (auth.events, hand.events, front.authorizer_calls) == ([], [], 0)


def test_a_missing_route_is_403_even_without_a_token() -> None:
    front, auth, _ = door()
    assert get(front, "/nope", token=None).status == 403
    assert auth.events == []


@pytest.mark.parametrize(
    ("target", "resource", "path", "params", "arn_path"),
    [
        ("/devices", "/devices", "/devices", None, "devices"),
        # one trailing slash is ignored for matching; `path` keeps it; the ARN does not
        ("/devices/", "/devices", "/devices/", None, "devices"),
        (
            "/devices/sensor-1/",
            "/devices/{device_id}",
            "/devices/sensor-1/",
            {"device_id": "sensor-1"},
            "devices/sensor-1",
        ),
        # path parameters percent-decoded, `path` and the method ARN as sent
        # (app/events/handler/injection-device-id.json has exactly this pair)
        (
            "/devices/x'%20OR%20'1'='1",
            "/devices/{device_id}",
            "/devices/x'%20OR%20'1'='1",
            {"device_id": "x' OR '1'='1"},
            "devices/x'%20OR%20'1'='1",
        ),
        # split before decoding: an encoded slash stays inside the parameter
        (
            "/devices/x%2Fy/commands",
            "/devices/{device_id}/commands",
            "/devices/x%2Fy/commands",
            {"device_id": "x/y"},
            "devices/x%2Fy/commands",
        ),
        (
            "/devices/%E2%82%AC",
            "/devices/{device_id}",
            "/devices/%E2%82%AC",
            {"device_id": "\u20ac"},
            "devices/%E2%82%AC",
        ),
        # a parameter may equal a literal of another resource
        (
            "/devices/devices",
            "/devices/{device_id}",
            "/devices/devices",
            {"device_id": "devices"},
            "devices/devices",
        ),
        ("/images?x=1", "/images", "/images", None, "images"),
    ],
)
def test_route_matching_and_path_parameters(
    target: str, resource: str, path: str, params: dict[str, str] | None, arn_path: str
) -> None:
    front, auth, _ = door()
    event = echoed(get(front, target))
    assert (event["resource"], event["path"], event["pathParameters"]) == (resource, path, params)
    assert event["requestContext"]["resourcePath"] == resource
    assert event["requestContext"]["path"] == f"/prod{path}"
    assert auth.events[0]["methodArn"] == f"{STAGE.prefix}/GET/{arn_path}"


def test_literal_resources_win_over_parameters() -> None:
    # https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-method-settings-method-request.html
    routes = (Route("GET", "/a/{x}", "s"), Route("GET", "/a/b", "s"), Route("GET", "/{y}/b/c", "s"))
    star = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
    }
    auth = FakeAuthorizer({TOKEN: output("p", star)})
    front = FrontDoor(routes, authorizer=auth, handler=FakeHandler(), stage=STAGE)
    assert echoed(get(front, "/a/b"))["resource"] == "/a/b"
    assert echoed(get(front, "/a/z"))["resource"] == "/a/{x}"
    assert echoed(get(front, "/a/b/c"))["resource"] == "/{y}/b/c"


# -- every route, every scope combination (STYLE 19): the real authorizer's policies through the
# front door grant exactly the token's routes


REQUESTS = [(r, p) for r in ROUTES for p in concrete_paths(r.path, list(SAMPLES))]


@pytest.mark.parametrize("route", ROUTES, ids=lambda r: f"{r.method} {r.path}")
def test_a_policy_granting_exactly_one_route_lets_exactly_it_through(route: Route) -> None:
    auth = FakeAuthorizer({TOKEN: output("p", policy_like_the_authorizer(STAGE.prefix, [route]))})
    front, _, hand = door(auth, ttl_seconds=300)
    for other, path in REQUESTS:
        r = get(front, path, method=other.method)
        expected = 200 if other == route else 403
        assert r.status == expected, (other, path, r.body)
        if expected == 200:
            assert hand.events[-1]["resource"] == route.path
    assert front.authorizer_calls == 1  # one policy, cached, decided every request


@pytest.mark.parametrize("n", range(len(SCOPES) + 1))
def test_every_scope_combination_grants_exactly_its_routes(n: int) -> None:
    for combo in itertools.combinations(SCOPES, n):
        front, _, _ = door(FakeAuthorizer({TOKEN: frozenset(combo)}))
        for route, path in REQUESTS:
            r = get(front, path, method=route.method)
            assert r.status == (200 if route.scope in combo else 403), (combo, route, path)
            if r.status == 403:
                # unknown-token Deny (nothing granted) is explicit; a grant without the route is
                # explicit where a `*` would admit it, implicit elsewhere
                assert r.body in (EXPLICIT_DENY, IMPLICIT_DENY)


# -- the TOKEN authorizer: https://docs.aws.amazon.com/apigateway/latest/api/API_Authorizer.html,
# https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-lambda-authorizer-input.html


TOKEN_CASES = json.loads((ROOT / "app" / "token-cases.json").read_text())


@pytest.mark.parametrize("header", [c["header"] for c in TOKEN_CASES["invalid"]])
def test_headers_failing_identity_validation_are_401_without_calling_the_authorizer(
    header: str,
) -> None:
    front, auth, _ = door()
    r = get(front, "/devices", token=header)
    if re.search(r"[\r\n\x00]", header):
        # not a header value at all (RFC 9110 section 5.5): the request is refused before routing
        assert_gateway_error(r, 400, b'{"message":"Bad Request"}', None)
    else:
        assert_gateway_error(r, 401, UNAUTHORIZED, "UnauthorizedException")
    assert auth.events == []


@pytest.mark.parametrize("header", [c["header"] for c in TOKEN_CASES["valid"]])
def test_headers_passing_identity_validation_reach_the_authorizer_as_sent(header: str) -> None:
    front, auth, _ = door(FakeAuthorizer({header: frozenset(SCOPES)}))
    assert get(front, "/devices", token=header).status == 200
    # the TOKEN event, as app/events/authorizer/allow.json has it
    assert auth.events == [
        {"type": "TOKEN", "authorizationToken": header, "methodArn": f"{STAGE.prefix}/GET/devices"}
    ]


def test_the_authorizer_event_matches_the_sample() -> None:
    sample = json.loads((ROOT / "app/events/authorizer/allow-other-route.json").read_text())
    front, auth, _ = door()
    get(front, "/devices/sensor-1/commands", method="POST")
    assert auth.events == [sample]


@pytest.mark.parametrize("headers", [[], [("Authorization", "")], [("X-Other", TOKEN)]])
def test_a_missing_or_empty_header_is_401_without_calling_the_authorizer(
    headers: list[tuple[str, str]],
) -> None:
    front, auth, _ = door()
    r = front.handle("GET", "/devices", headers, b"")
    assert_gateway_error(r, 401, UNAUTHORIZED, "UnauthorizedException")
    assert r.outcome == "unauthorized" and auth.events == []


def test_the_last_of_repeated_authorization_headers_is_the_token() -> None:
    front, auth, _ = door()
    r = front.handle("GET", "/devices", [("Authorization", "junk"), ("authorization", TOKEN)], b"")
    assert r.status == 200 and auth.events[0]["authorizationToken"] == TOKEN


def test_no_identity_validation_passes_any_non_empty_header() -> None:
    front, _, _ = door(FakeAuthorizer({"anything": frozenset(SCOPES)}), identity_validation="")
    assert get(front, "/devices", token="anything").status == 200
    assert get(front, "/devices", token="").status == 401


@pytest.mark.parametrize(
    "result",
    [
        # https://docs.aws.amazon.com/apigateway/latest/developerguide/apigateway-use-lambda-authorizer.html:
        # the error message "Unauthorized" is API Gateway's 401 (app/authorizer's `unauthorized()`)
        error("Unauthorized"),
        error("Unauthorized", error_type="AnythingElse"),
    ],
)
def test_the_unauthorized_function_error_is_401(result: LambdaResult) -> None:
    front, auth, _ = door(FakeAuthorizer({TOKEN: result}))
    r = get(front, "/devices")
    assert_gateway_error(r, 401, UNAUTHORIZED, "UnauthorizedException")
    assert len(auth.events) == 1


P = STAGE.prefix
ALLOW_ALL = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "execute-api:Invoke", "Resource": f"{P}/*"}],
}


@pytest.mark.parametrize(
    "result",
    [
        # any other function error: AUTHORIZER_CONFIGURATION_ERROR / AUTHORIZER_FAILURE, 500
        error("unauthorized"),
        error("Unauthorized "),
        error("token store unavailable: timeout", error_type="AuthorizerError"),
        LambdaResult(b"not json", True),
        LambdaResult(b'"Unauthorized"', True),
        # outputs that are not {principalId, policyDocument, context?}
        # (https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-lambda-authorizer-output.html)
        LambdaResult(b"not json", False),
        LambdaResult(b"\xff\xfe", False),
        LambdaResult(b"[]", False),
        LambdaResult(b"null", False),
        LambdaResult(json.dumps({"policyDocument": ALLOW_ALL}).encode(), False),
        LambdaResult(json.dumps({"principalId": 7, "policyDocument": ALLOW_ALL}).encode(), False),
        LambdaResult(json.dumps({"principalId": "p"}).encode(), False),
        output("p", {"Statement": ALLOW_ALL["Statement"]}),
        output("p", {"Version": "2012-10-17", "Statement": []}),
        output(
            "p",
            {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*", "Condition": {}}],
            },
        ),
        # context values must be strings, numbers or booleans: no object, array or null
        output("p", ALLOW_ALL, {"nested": {"a": 1}}),
        output("p", ALLOW_ALL, {"list": [1]}),
        output("p", ALLOW_ALL, {"none": None}),
        LambdaResult(
            json.dumps({"principalId": "p", "policyDocument": ALLOW_ALL, "context": "x"}).encode(),
            False,
        ),
        LambdaResult(b"[" * 100_000 + b"]" * 100_000, False),  # deeper than any JSON parser goes
        InvokeTimeout("authorizer timed out"),
        ConnectionRefusedError("rie is down"),
    ],
)
def test_authorizer_errors_and_malformed_outputs_are_500_null(
    result: LambdaResult | BaseException,
) -> None:
    front, _, hand = door(FakeAuthorizer({TOKEN: result}))
    r = get(front, "/devices")
    assert_gateway_error(r, 500, AUTHORIZER_ERROR, "AuthorizerConfigurationException")
    assert r.outcome == "authorizer-error" and hand.events == []


def test_explicit_and_implicit_deny_have_their_own_messages() -> None:
    # https://repost.aws/knowledge-center/api-gateway-403-error-lambda-authorizer
    front, _, hand = door(FakeAuthorizer({TOKEN: frozenset({"images:read"}), OTHER: None}))
    r = get(front, "/devices")  # granted GET /images only: nothing allows GET /devices
    assert_gateway_error(r, 403, IMPLICIT_DENY, "AccessDeniedException")
    assert r.outcome == "implicit-deny"
    r = get(front, "/devices", token=OTHER)  # unknown token: Deny on the whole stage
    assert_gateway_error(r, 403, EXPLICIT_DENY, "AccessDeniedException")
    assert r.outcome == "deny" and hand.events == []


def test_the_timeout_handed_to_the_authorizer_is_the_integration_timeout() -> None:
    front, auth, hand = door(integration_timeout_s=3.5)
    get(front, "/devices")
    assert auth.timeouts == [3.5] and hand.timeouts == [3.5]


# -- the cache: authorizerResultTtlInSeconds (API_Authorizer.html): the output is cached per token
# and evaluated against every later request with it, on any route, until the TTL ends


def test_a_policy_for_the_first_route_only_denies_other_routes_while_cached() -> None:
    clock = Clock()
    front, auth, _ = door(FakeAuthorizer({TOKEN: "only-called"}), clock=clock, ttl_seconds=300)
    assert get(front, "/devices").status == 200
    r = get(front, "/images")
    assert_gateway_error(r, 403, IMPLICIT_DENY, "AccessDeniedException")
    assert r.cached is True
    assert get(front, "/devices").status == 200  # still the first route's policy
    assert (front.authorizer_calls, front.cache_hits) == (1, 2)
    clock.now += 299.999
    assert get(front, "/images").status == 403
    clock.now += 0.001  # TTL over: a fresh call, with this request's ARN
    r = get(front, "/images")
    assert r.status == 200 and r.cached is False
    assert auth.events[-1]["methodArn"] == f"{P}/GET/images"
    assert get(front, "/devices").status == 403  # now the second route's policy is the cached one
    assert front.stats().authorizer_calls == 2


def test_the_cache_is_per_token() -> None:
    front, auth, _ = door(FakeAuthorizer({TOKEN: "only-called", OTHER: "only-called"}))
    assert get(front, "/devices").status == 200
    assert get(front, "/images", token=OTHER).status == 200
    assert get(front, "/images").status == 403
    assert len(auth.events) == 2


def test_ttl_zero_calls_the_authorizer_every_time() -> None:
    front, auth, _ = door(FakeAuthorizer({TOKEN: "only-called"}), ttl_seconds=0)
    assert [get(front, p).status for p in ("/devices", "/images", "/devices")] == [200, 200, 200]
    assert len(auth.events) == 3 and front.cache_hits == 0


def test_denies_are_cached_but_401_and_errors_are_not() -> None:
    front, auth, _ = door(FakeAuthorizer({OTHER: None, TOKEN: error("Unauthorized")}))
    assert [get(front, "/devices", token=OTHER).status for _ in range(3)] == [403] * 3
    assert len(auth.events) == 1
    assert [get(front, "/devices").status for _ in range(3)] == [401] * 3
    assert len(auth.events) == 4
    front, auth, _ = door(FakeAuthorizer({TOKEN: error("db down", "AuthorizerError")}))
    assert [get(front, "/devices").status for _ in range(2)] == [500, 500]
    assert len(auth.events) == 2


def test_a_cached_grant_carries_its_context_to_later_requests() -> None:
    front, _, _ = door()
    first = echoed(get(front, "/devices"))["requestContext"]["authorizer"]
    second = echoed(get(front, "/images"))["requestContext"]["authorizer"]
    assert first["integrationLatency"] >= 0 and second["integrationLatency"] == 0
    first.pop("integrationLatency"), second.pop("integrationLatency")
    assert (
        first
        == second
        == {
            "principalId": "alice@example.com",
            "scopes": " ".join(SCOPES),
            "token_id": "sample000001",
        }
    )


def test_flush_cache_forgets_every_token() -> None:
    front, auth, _ = door()
    get(front, "/devices")
    front.flush_cache()
    get(front, "/devices")
    assert len(auth.events) == 2


def test_context_values_reach_the_handler_as_strings() -> None:
    # REST APIs stringify the context's numbers and booleans for the integration
    # (api-gateway-lambda-authorizer-output.html)
    context = {"s": "v", "n": 1, "f": 1.5, "t": True, "b": False}
    front, _, _ = door(FakeAuthorizer({TOKEN: output("bob", ALLOW_ALL, context)}))
    got = echoed(get(front, "/devices"))["requestContext"]["authorizer"]
    got.pop("integrationLatency")
    assert got == {"principalId": "bob", "s": "v", "n": "1", "f": "1.5", "t": "true", "b": "false"}


# -- the proxy event, field by field against the samples (set-up-lambda-proxy-integrations.html,
# input format)


REPRODUCIBLE = [
    "bad-json", "bad-limit", "create-command", "create-device", "get-device", "injection-device-id",
    "injection-in-body", "list-commands", "list-devices", "list-images", "missing-scope",
    "other-owners-device", "set-tag", "unknown-device", "unknown-field", "wrong-json-type",
    "create-command-base64",
]  # fmt: skip


def request_of(sample: dict[str, Any]) -> tuple[str, str, list[tuple[str, str]], bytes]:
    """The HTTP request behind a sample event: the client's headers (API Gateway adds
    X-Forwarded-For itself), the query string, the body bytes."""
    headers = [
        (k, v)
        for k, vs in sample["multiValueHeaders"].items()
        if k != "X-Forwarded-For"
        for v in vs
    ]
    query = sample["multiValueQueryStringParameters"] or {}
    qs = "&".join(f"{quote(k)}={quote(v)}" for k, vs in query.items() for v in vs)
    body = sample["body"] or ""
    raw = base64.b64decode(body) if sample["isBase64Encoded"] else body.encode()
    return sample["httpMethod"], sample["path"] + (f"?{qs}" if qs else ""), headers, raw


@pytest.mark.parametrize("name", REPRODUCIBLE)
def test_the_event_matches_the_sample_field_by_field(name: str) -> None:
    sample = json.loads((EVENTS / f"{name}.json").read_text())
    context = dict(sample["requestContext"]["authorizer"])
    context.pop("integrationLatency")
    principal = context.pop("principalId")
    token = sample["headers"]["Authorization"]
    auth = FakeAuthorizer({token: output(principal, ALLOW_ALL, context)})
    # create-command-base64 is what a binary media type for its Content-Type gives (rule 6)
    binary = ["application/json"] if sample["isBase64Encoded"] else []
    front, _, _ = door(auth, binary_media_types=binary)
    method, target, headers, body = request_of(sample)
    source_ip = sample["requestContext"]["identity"]["sourceIp"]
    event = echoed(front.handle(method, target, headers, body, source_ip=source_ip))
    assert set(event) == set(sample)
    for key in sample:
        if key != "requestContext":
            assert event[key] == sample[key], key
    got, want = event["requestContext"], sample["requestContext"]
    assert set(got) == set(want)
    same = ("resourcePath", "httpMethod", "requestTime", "path", "accountId", "protocol", "stage",
            "domainPrefix", "requestTimeEpoch", "identity", "domainName", "apiId")  # fmt: skip
    for key in same:
        assert got[key] == want[key], key
    assert {k: v for k, v in got["authorizer"].items() if k != "integrationLatency"} == {
        k: v for k, v in want["authorizer"].items() if k != "integrationLatency"
    }
    assert isinstance(got["authorizer"]["integrationLatency"], int)
    uuid.UUID(got["requestId"])
    assert re.fullmatch(r"[0-9a-z]{6}", got["resourceId"])
    assert got["extendedRequestId"] and got["extendedRequestId"] != want["extendedRequestId"]


@pytest.mark.parametrize("name", ["unknown-route", "method-not-allowed"])
def test_samples_api_gateway_never_passes_on(name: str) -> None:
    """The handler's own 404/405 samples: at the gateway, 403 Missing Authentication Token."""
    sample = json.loads((EVENTS / f"{name}.json").read_text())
    front, auth, hand = door()
    method, target, headers, body = request_of(sample)
    assert front.handle(method, target, headers, body).body == MISSING_TOKEN
    assert (auth.events, hand.events) == ([], [])


def test_repeated_headers_and_query_parameters() -> None:
    front, _, _ = door()
    headers = [("X-Tag", "1"), ("x-tag", "2"), ("Accept", "a/b"), ("X-Empty", "")]
    event = echoed(get(front, "/devices?a=1&a=2&b&c=&=x&&d=%26%3D+&A=3", headers=headers))
    assert event["headers"]["X-Tag"] == "2" and event["multiValueHeaders"]["X-Tag"] == ["1", "2"]
    assert event["headers"]["X-Empty"] == ""
    # query parameter names are case-sensitive: `A` is not `a`
    assert event["queryStringParameters"] == {"a": "2", "b": "", "c": "", "d": "&=+", "A": "3"}
    assert event["multiValueQueryStringParameters"] == {
        "a": ["1", "2"],
        "b": [""],
        "c": [""],
        "d": ["&=+"],
        "A": ["3"],
    }


def test_no_query_no_path_parameters_are_null_and_stage_variables_null() -> None:
    front, _, _ = door()
    event = echoed(get(front, "/devices?"))
    assert (
        event["queryStringParameters"] is None and event["multiValueQueryStringParameters"] is None
    )
    assert event["pathParameters"] is None and event["stageVariables"] is None


def test_forwarded_for_appends_the_client_and_trace_id_is_added() -> None:
    front, _, _ = door()
    event = echoed(
        front.handle(
            "GET",
            "/devices",
            [("Authorization", TOKEN), ("X-Forwarded-For", "10.0.0.1")],
            b"",
            "192.0.2.9",
        )
    )
    assert event["headers"]["X-Forwarded-For"] == "10.0.0.1, 192.0.2.9"
    assert event["requestContext"]["identity"]["sourceIp"] == "192.0.2.9"
    assert re.fullmatch(r"Root=1-[0-9a-f]{8}-[0-9a-f]{24}", event["headers"]["X-Amzn-Trace-Id"])


@pytest.mark.parametrize(
    ("body", "content_type", "binary_types", "text", "encoded"),
    [
        # binaryMediaTypes empty (as deployed): every body is text
        (b"", "application/json", [], None, False),
        (b'{"a": "\xc3\xa9"}', "application/json", [], '{"a": "\u00e9"}', False),
        (
            b"\x89PNG\r\n",
            "image/png",
            [],
            "\ufffdPNG\r\n",
            False,
        ),  # text mode loses non-UTF-8 bytes
        # a Content-Type matching a binary media type: base64
        # (api-gateway-payload-encodings-workflow.html)
        (
            b"\x89PNG\r\n",
            "image/png",
            ["image/png"],
            base64.b64encode(b"\x89PNG\r\n").decode(),
            True,
        ),
        (b"\x00\x01", "image/webp; q=1", ["image/*"], "AAE=", True),
        (b"\x00\x01", "application/x", ["*/*"], "AAE=", True),
        (b"\x00\x01", "application/x", ["image/*"], "\x00\x01", False),
        (b"abc", None, ["*/*"], "abc", False),  # no Content-Type matches nothing
    ],
)
def test_body_encoding(
    body: bytes, content_type: str | None, binary_types: list[str], text: str | None, encoded: bool
) -> None:
    front, _, _ = door(binary_media_types=binary_types)
    headers = [("Content-Type", content_type)] if content_type else []
    event = echoed(get(front, "/devices", method="POST", headers=headers, body=body))
    assert (event["body"], event["isBase64Encoded"]) == (text, encoded)


# -- limits: https://docs.aws.amazon.com/apigateway/latest/developerguide/limits.html (10 MB, 29 s),
# https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html (6 MB)


def test_over_10_mb_is_413_before_routing() -> None:
    front, auth, hand = door()
    r = get(front, "/nowhere", method="POST", body=b"x" * (MAX_REQUEST_BYTES + 1))
    assert_gateway_error(r, 413, TOO_LONG, None)
    assert r.outcome == "too-large" and auth.events == [] and hand.events == []
    assert get(front, "/nowhere", method="POST", body=b"x" * MAX_REQUEST_BYTES).status == 403


def test_an_event_over_lambdas_6_mb_is_413_without_calling_the_handler() -> None:
    front, auth, hand = door()
    r = get(front, "/devices", method="POST", body=b"x" * LAMBDA_PAYLOAD_BYTES)
    assert_gateway_error(r, 413, TOO_LONG, None)
    assert len(auth.events) == 1 and hand.events == []
    assert (
        get(front, "/devices", method="POST", body=b"x" * (LAMBDA_PAYLOAD_BYTES - 10_000)).status
        == 200
    )


def test_a_response_over_6_mb_is_502() -> None:
    big = json.dumps({"statusCode": 200, "body": "x" * LAMBDA_PAYLOAD_BYTES}).encode()
    front, _, _ = door(handler=FakeHandler(LambdaResult(big, False)))
    assert_gateway_error(get(front, "/devices"), 502, INTERNAL, "InternalServerErrorException")


def test_an_integration_timeout_is_504() -> None:
    front, _, hand = door(handler=FakeHandler(InvokeTimeout("29 s")))
    r = get(front, "/devices")
    assert_gateway_error(r, 504, TIMED_OUT, None)
    assert r.outcome == "timeout" and hand.timeouts == [29.0]


# -- the proxy response (set-up-lambda-proxy-integrations.html, output format;
# https://repost.aws/knowledge-center/malformed-502-api-gateway)


def reply(doc: Any) -> LambdaResult:
    return LambdaResult(json.dumps(doc).encode(), False)


@pytest.mark.parametrize(
    "result",
    [
        LambdaResult(b"not json", False),
        LambdaResult(b"\xff", False),
        LambdaResult(b"[" * 100_000 + b"]" * 100_000, False),
        reply([]),
        reply("200"),
        reply({}),
        reply({"body": "x"}),
        reply({"statusCode": "200"}),
        reply({"statusCode": 200.5}),
        reply({"statusCode": True}),
        reply({"statusCode": 99}),
        reply({"statusCode": 101}),
        reply({"statusCode": 600}),
        reply({"statusCode": 200, "body": 5}),
        reply({"statusCode": 200, "body": {"a": 1}}),
        reply({"statusCode": 200, "isBase64Encoded": "yes"}),
        reply({"statusCode": 200, "headers": ["a"]}),
        reply({"statusCode": 200, "headers": {"A": None}}),
        reply({"statusCode": 200, "headers": {"A": {"b": 1}}}),
        reply({"statusCode": 200, "headers": {"Bad Name": "x"}}),
        reply({"statusCode": 200, "headers": {"X": "a\r\nSet-Cookie: x=1"}}),
        reply({"statusCode": 200, "multiValueHeaders": {"A": "not a list"}}),
        reply({"statusCode": 200, "multiValueHeaders": {"A": [None]}}),
        reply({"statusCode": 200, "body": "", "extra": 1}),
        # a function error: X-Amz-Function-Error (https://docs.aws.amazon.com/lambda/latest/api/API_Invoke.html)
        error("boom", "InvalidEvent"),
        LambdaResult(json.dumps({"statusCode": 200, "body": "ok"}).encode(), True),
        RuntimeError("rie connection reset"),
    ],
)
def test_malformed_responses_and_function_errors_are_502(
    result: LambdaResult | BaseException,
) -> None:
    front, _, hand = door(handler=FakeHandler(result))
    r = get(front, "/devices")
    assert_gateway_error(r, 502, INTERNAL, "InternalServerErrorException")
    assert len(hand.events) == 1


@pytest.mark.parametrize(
    ("doc", "status", "headers", "body"),
    [
        ({"statusCode": 201, "body": "{}"}, 201, [("Content-Type", "application/json")], b"{}"),
        ({"statusCode": 204}, 204, [("Content-Type", "application/json")], b""),
        (
            {
                "statusCode": 200,
                "body": None,
                "headers": None,
                "multiValueHeaders": None,
                "isBase64Encoded": None,
            },
            200,
            [("Content-Type", "application/json")],
            b"",
        ),
        # both maps merge; a name in multiValueHeaders takes only its values there
        (
            {
                "statusCode": 200,
                "headers": {"Content-Type": "text/plain", "A": "1", "b": "2"},
                "multiValueHeaders": {"B": ["3", "4"]},
                "body": "hi",
            },
            200,
            [("B", "3"), ("B", "4"), ("Content-Type", "text/plain"), ("A", "1")],
            b"hi",
        ),
        (
            {"statusCode": 200, "headers": {"N": 5, "T": True, "Content-Type": "a/b"}},
            200,
            [("N", "5"), ("T", "true"), ("Content-Type", "a/b")],
            b"",
        ),
        # framing is the server's: the function's Content-Length is dropped
        (
            {
                "statusCode": 200,
                "headers": {"Content-Length": "999", "Content-Type": "a/b"},
                "body": "x",
            },
            200,
            [("Content-Type", "a/b")],
            b"x",
        ),
        (
            {"statusCode": 404, "body": "\u00e9"},
            404,
            [("Content-Type", "application/json")],
            "\u00e9".encode(),
        ),
        # no binary media types: a base64 body reaches the client as its base64 text
        (
            {"statusCode": 200, "body": "aGk=", "isBase64Encoded": True},
            200,
            [("Content-Type", "application/json")],
            b"aGk=",
        ),
    ],
)
def test_valid_proxy_responses(
    doc: dict[str, Any], status: int, headers: list[tuple[str, str]], body: bytes
) -> None:
    front, _, _ = door(handler=FakeHandler(reply(doc)))
    r = get(front, "/devices")
    assert (r.status, r.body, r.outcome) == (status, body, "allow")
    assert [h for h in r.headers if not h[0].lower().startswith("x-am")] == headers
    assert_ids(r)


@pytest.mark.parametrize(
    ("accept", "body", "status", "expected"),
    [
        # decoded when the first Accept media type is a binary media type
        # (lambda-proxy-binary-media.html)
        ("image/png", "iVBORw==", 200, b"\x89PNG"),
        ("image/png, text/html", "iVBORw==", 200, b"\x89PNG"),
        ("text/html, image/png", "iVBORw==", 200, b"iVBORw=="),  # only the first counts
        (None, "iVBORw==", 200, b"iVBORw=="),
        ("image/png", "not base64!", 502, INTERNAL),
    ],
)
def test_base64_responses_decode_for_binary_accept(
    accept: str | None, body: str, status: int, expected: bytes
) -> None:
    doc = {
        "statusCode": 200,
        "body": body,
        "isBase64Encoded": True,
        "headers": {"Content-Type": "image/png"},
    }
    front, _, _ = door(handler=FakeHandler(reply(doc)), binary_media_types=["image/png"])
    r = get(front, "/images", headers=[("Accept", accept)] if accept else [])
    assert (r.status, r.body) == (status, expected)


def test_the_request_id_reaches_the_handler_and_the_client() -> None:
    front, _, _ = door()
    r = get(front, "/devices")
    assert r.json()["requestContext"]["requestId"] == r.header("x-amzn-RequestId") == r.request_id


# -- hostile input: 4xx, never a 5xx from the front door itself


HOSTILE = [
    ("", "/devices", []),
    ("GET /", "/devices", []),
    ("G\x00T", "/devices", []),
    ("\u00c4", "/devices", []),
    ("GET", "", []),
    ("GET", "*", []),
    ("GET", "devices", []),
    ("GET", "/devices/%zz", []),
    ("GET", "/devices/%", []),
    ("GET", "/devices/%f", []),
    ("GET", "/devices/%ff", []),
    ("GET", "/devices/%e2%82", []),
    ("GET", "/devices/%C0%AF", []),  # an overlong UTF-8 slash
    ("GET", "/d\u00ebvices", []),
    ("GET", "/devices/\x00", []),
    ("GET", "/devices/a b", []),
    ("GET", "/devices\r\nX: y", []),
    (
        "GET",
        "/devices/\udcff",
        [],
    ),  # a lone surrogate, as a non-UTF-8 path decodes with surrogateescape
    ("GET", "/devices?x=%", []),
    ("GET", "/devices?%zz=1", []),
    ("GET", "/devices?x=%ff", []),
    ("GET", "/devices#frag", []),
    ("GET", "/" + "a" * 100_000, []),
    ("GET", "/devices/" + "%41" * 50_000, []),
    ("GET", "/devices/" + "a/" * 10_000, []),
    ("GET", "http://evil.example/devices", []),
    ("GET", "http://evil.example", []),
    ("GET", "/devices", [("Bad Name", "x")]),
    ("GET", "/devices", [("", "x")]),
    ("GET", "/devices", [("X", "a\r\nb")]),
    ("GET", "/devices", [("X", "a\x00b")]),
    ("GET", "/devices", [("X", "\udcff")]),
    ("GET", "/devices", [("X", "\u00ff" * 10)]),
    ("GET", "/devices", [("X", "a" * 7_000_000)]),
    ("GET", "/devices", [(f"X-{i}", "v") for i in range(20_000)]),
    ("GET", "/devices", [("Authorization", "Bearer " + "x" * 1_000_000)]),
    ("GET", "/devices", [("Content-Type", "\u00ff/\u00ff")]),
    ("GET", "/devices", [("Accept", ";;;,,,")]),
]


@pytest.mark.parametrize(("method", "target", "headers"), HOSTILE, ids=range(len(HOSTILE)))
def test_hostile_requests_get_4xx(method: str, target: str, headers: list[tuple[str, str]]) -> None:
    front, _, _ = door()
    r = front.handle(method, target, [*headers, ("Authorization", TOKEN)], b"\xff\x00" * 100)
    assert 200 <= r.status < 500, (r.status, r.body)
    assert r.outcome != "gateway-bug"
    assert_ids(r)


# -- construction


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"ttl_seconds": -1}, r"ttl_seconds must be 0\.\.3600"),
        ({"ttl_seconds": 3601}, r"ttl_seconds must be 0\.\.3600"),
        ({"ttl_seconds": True}, "ttl_seconds must be an int"),
        ({"ttl_seconds": "300"}, "ttl_seconds must be an int"),
        ({"integration_timeout_s": 0}, "integration_timeout_s must be > 0"),
        ({"identity_validation": "("}, "is not a regular expression"),
    ],
)
def test_bad_settings_are_refused_with_the_rule(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises((ValueError, TypeError), match=message):
        door(**kwargs)


def test_the_default_identity_validation_is_the_deployed_one() -> None:
    front, _, _ = door()
    assert get(front, "/devices", token="Bearer nope").status == 401
    assert IDENTITY_VALIDATION.startswith("^Bearer ")


def test_empty_routes_are_refused() -> None:
    with pytest.raises(ValueError, match="at least one route"):
        FrontDoor((), authorizer=FakeAuthorizer(), handler=FakeHandler())


def test_stats_count_every_outcome() -> None:
    front, _, _ = door()
    get(front, "/devices")
    get(front, "/images")
    get(front, "/nope")
    get(front, "/devices", token=None)
    stats = front.stats()
    assert (stats.authorizer_calls, stats.handler_calls, stats.cache_hits, stats.cache_misses) == (
        1,
        2,
        1,
        1,
    )
    assert stats.outcomes == {"allow": 2, "missing-token": 1, "unauthorized": 1}


# -- the HTTP server


@pytest.fixture
def server() -> Iterator[tuple[Any, FrontDoor, FakeAuthorizer, FakeHandler]]:
    front, auth, hand = door()
    srv = serve(front)
    try:
        yield srv, front, auth, hand
    finally:
        srv.close()


def request(
    srv: Any,
    method: str,
    path: str,
    *,
    headers: Mapping[str, str] | None = None,
    body: bytes | None = None,
) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection(srv.host, srv.port, timeout=10)
    try:
        conn.request(method, path, body=body, headers={"Authorization": TOKEN, **(headers or {})})
        resp = conn.getresponse()
        return resp.status, dict(resp.getheaders()), resp.read()
    finally:
        conn.close()


def raw(srv: Any, data: bytes) -> bytes:
    """Send bytes as they are, then end the request stream; the server's answer until it closes."""
    with socket.create_connection((srv.host, srv.port), timeout=2) as sock:
        sock.sendall(data)
        sock.shutdown(socket.SHUT_WR)  # a truncated request ends here, as when a client goes away
        chunks = []
        try:
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        except (TimeoutError, ConnectionResetError):
            pass
    return b"".join(chunks)


def status_of(answer: bytes) -> int:
    match = re.match(rb"HTTP/1\.[01] (\d{3})", answer)
    assert match, answer[:200]
    return int(match.group(1))


def test_serve_answers_like_the_front_door(server: Any) -> None:
    srv, _, _, _ = server
    assert srv.url == f"http://127.0.0.1:{srv.port}"
    status, headers, body = request(
        srv,
        "POST",
        "/devices?a=1",
        body=b'{"id": "d"}',
        headers={"Content-Type": "application/json"},
    )
    assert status == 200 and headers["x-amzn-RequestId"]
    event = json.loads(body)
    assert (event["body"], event["queryStringParameters"], event["httpMethod"]) == (
        '{"id": "d"}',
        {"a": "1"},
        "POST",
    )
    assert event["headers"]["Content-Type"] == "application/json"
    assert request(srv, "GET", "/nope")[2] == MISSING_TOKEN
    assert request(srv, "FOO", "/devices")[0] == 403  # any method reaches the front door, no 501
    assert request(srv, "GET", "/devices", headers={"Authorization": "x"})[0] == 401
    status, headers, body = request(srv, "HEAD", "/devices")
    assert (status, body) == (403, b"")


def test_serve_frames_a_204_without_a_body_and_keeps_the_connection() -> None:
    doc = {"statusCode": 204, "body": "dropped", "headers": {"Content-Length": "7"}}
    front, _, _ = door(handler=FakeHandler(reply(doc)))
    with serve(front) as srv:
        conn = http.client.HTTPConnection(srv.host, srv.port, timeout=10)
        for _ in range(2):  # the same connection answers twice: the framing was right
            conn.request("GET", "/devices", headers={"Authorization": TOKEN})
            resp = conn.getresponse()
            assert (resp.status, resp.read(), resp.getheader("Content-Length")) == (204, b"", None)
        conn.close()


def test_serve_reads_chunked_bodies(server: Any) -> None:
    srv, _, _, _ = server
    answer = raw(
        srv,
        b"POST /devices HTTP/1.1\r\nHost: x\r\nAuthorization: "
        + TOKEN.encode()
        + b"\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
        + b"3\r\nabc\r\n2;ext=1\r\nde\r\n0\r\n\r\n",
    )
    assert status_of(answer) == 200


def test_serve_refuses_over_10_mb_by_content_length_and_keeps_serving(server: Any) -> None:
    srv, _, auth, _ = server
    head = (
        f"POST /devices HTTP/1.1\r\nHost: x\r\nAuthorization: {TOKEN}\r\n"
        f"Content-Length: {MAX_REQUEST_BYTES + 1}\r\n\r\n"
    )
    answer = raw(srv, head.encode() + b"only the start of the body")
    assert status_of(answer) == 413 and answer.endswith(TOO_LONG)
    assert b"Connection: close" in answer
    expect = head.replace("\r\n\r\n", "\r\nExpect: 100-continue\r\n\r\n")
    assert status_of(raw(srv, expect.encode())) == 413  # refused before the client sends it
    assert request(srv, "GET", "/devices")[0] == 200
    assert auth.events[-1]["methodArn"].endswith("/GET/devices") and len(auth.events) == 1


@pytest.mark.parametrize(
    "data",
    [
        b"GARBAGE\r\n\r\n",
        b"GET\r\n\r\n",
        b"GET /devices HTTP/9.9\r\n\r\n",
        b"GET /devices HTTP/1.1\r\nContent-Length: abc\r\n\r\n",
        b"GET /devices HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
        b"GET /devices HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
        b"POST /devices HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\nabc",
        b"POST /devices HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n",
        b"POST /devices HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        b"POST /devices HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0x10\r\n",
        b"POST /devices HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab",
        b"GET /\xff\xfe/devices HTTP/1.1\r\n\r\n",
        b"GET /devices/%ff HTTP/1.1\r\n\r\n",
        b"GET /devices HTTP/1.1\r\nX: \xff\xfe\r\n\r\n",
        b"GET /devices HTTP/1.1\r\nNo colon here\r\n\r\n",
        b"GET /devices HTTP/1.1\r\nX-Long: " + b"a" * 70_000 + b"\r\n\r\n",
        b"GET /" + b"a" * 70_000 + b" HTTP/1.1\r\n\r\n",
        b"GET /devices HTTP/1.1\r\n" + b"".join(b"X-%d: v\r\n" % i for i in range(150)) + b"\r\n",
        b"GET /devices HTTP/1.1\r\nAuthorization: Bearer \x00\r\n\r\n",
    ],
    ids=range(19),
)
def test_serve_answers_malformed_requests_with_4xx_and_keeps_serving(
    server: Any, data: bytes
) -> None:
    srv, _, _, _ = server
    answer = raw(srv, data)
    assert answer, "no answer"
    assert 400 <= status_of(answer) < 500, answer[:300]
    assert request(srv, "GET", "/devices")[0] == 200


def test_serve_handles_concurrent_clients_with_one_cache(server: Any) -> None:
    srv, front, auth, hand = server
    results: list[int] = []
    lock = threading.Lock()

    def client(n: int) -> None:
        conn = http.client.HTTPConnection(srv.host, srv.port, timeout=10)
        try:
            for i in range(20):  # keep-alive: 20 requests on one connection
                path = ["/devices", "/images", f"/devices/d{n}-{i}/commands"][i % 3]
                conn.request("GET", path, headers={"Authorization": TOKEN})
                resp = conn.getresponse()
                resp.read()
                with lock:
                    results.append(resp.status)
        finally:
            conn.close()

    threads = [threading.Thread(target=client, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert results == [200] * 160
    stats = front.stats()
    # concurrent first requests may each call the authorizer; every other request is a hit
    assert 1 <= stats.authorizer_calls <= 8
    assert (
        stats.authorizer_calls + stats.cache_hits == 160 == stats.handler_calls == len(hand.events)
    )
    assert len(auth.events) == stats.authorizer_calls


@pytest.mark.parametrize("host", ["0.0.0.0", "192.0.2.1", "example.com", "::"])
def test_serve_binds_loopback_only(host: str) -> None:
    front, _, _ = door()
    with pytest.raises(ValueError, match="loopback"):
        serve(front, host=host)
