"""The local front door: what API Gateway (REST, v1) does with a request to this API, reproduced.

`FrontDoor.handle` takes one HTTP request and answers it as the deployed stage would: it matches
the route table (app/routes.json), runs the TOKEN authorizer (with API Gateway's result cache),
decides the request with the authorizer's policy (`local.apigw_policy`), builds the Lambda proxy
event, calls the handler and turns its proxy response into the HTTP answer. The two functions
are `Invoker`s, so the same front door runs Python fakes in tests and the real zips under
aws-lambda-rie (local/stack.py). `serve` puts it behind an HTTP/1.1 server on 127.0.0.1.

The rules, each from AWS's documentation (the code implementing each cites its page again):

1. Size: a request over 10 MB is refused with 413 before anything runs (REST API quota "payload
   size", https://docs.aws.amazon.com/apigateway/latest/developerguide/limits.html). Lambda's
   own limit for a synchronous invocation is 6 MB for the event and for the response
   (https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html): an event over it is
   refused with 413 without calling the handler, a response over it is a 502.
2. Routing: each `{param}` of a resource matches one non-empty path segment
   (https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-method-settings-method-request.html);
   a path no resource matches, or a resource without the request's method, is answered 403
   ``{"message":"Missing Authentication Token"}`` (gateway response MISSING_AUTHENTICATION_TOKEN,
   https://docs.aws.amazon.com/apigateway/latest/developerguide/supported-gateway-response-types.html,
   https://repost.aws/knowledge-center/api-gateway-authentication-token-errors), before the
   authorizer runs.
3. TOKEN authorizer: the identity source is the Authorization header; missing or empty, or not
   matching the identity validation expression, it is answered 401 without calling the
   authorizer (https://docs.aws.amazon.com/apigateway/latest/api/API_Authorizer.html,
   ``identitySource`` and ``identityValidationExpression``). The event is
   ``{"type": "TOKEN", "authorizationToken", "methodArn"}``
   (https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-lambda-authorizer-input.html).
   The function error ``Unauthorized`` is a 401
   (https://docs.aws.amazon.com/apigateway/latest/developerguide/apigateway-use-lambda-authorizer.html,
   https://repost.aws/knowledge-center/api-gateway-401-error-lambda-authorizer); any other error,
   an output that is not ``{principalId, policyDocument, context?}`` with scalar context values
   (https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-lambda-authorizer-output.html)
   or a policy that does not parse is a 500 ``{"message": null}`` (AUTHORIZER_CONFIGURATION_ERROR).
   A policy that denies the method ARN is a 403: ``{"Message":"User is not authorized to access
   this resource with an explicit deny"}`` when a Deny statement decided, ``{"Message":"User is
   not authorized to access this resource"}`` when nothing allowed
   (https://repost.aws/knowledge-center/api-gateway-403-error-lambda-authorizer).
4. Cache: the authorizer's output is cached per identity source value (the header) for the TTL,
   0 disabling it, 300 by default, 3600 at most (``authorizerResultTtlInSeconds``,
   https://docs.aws.amazon.com/apigateway/latest/api/API_Authorizer.html); the cached policy is
   evaluated against every later request with that token, on any route, until it expires.
5. Proxy event v1 (https://docs.aws.amazon.com/apigateway/latest/developerguide/set-up-lambda-proxy-integrations.html#api-gateway-simple-proxy-for-lambda-input-format):
   resource, path, httpMethod, headers / multiValueHeaders, queryStringParameters /
   multiValueQueryStringParameters and pathParameters (null when empty), stageVariables null,
   requestContext with the authorizer's principalId and context, body, isBase64Encoded.
6. Body encoding: binary (base64, ``isBase64Encoded: true``) only when the request's Content-Type
   matches one of the API's binaryMediaTypes; otherwise text
   (https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-payload-encodings-workflow.html,
   https://docs.aws.amazon.com/apigateway/latest/developerguide/lambda-proxy-binary-media.html).
   This API declares none (components/rest_api.py), so by default every body is text.
7. Proxy response (…#api-gateway-simple-proxy-for-lambda-output-format on the page of rule 5):
   ``{statusCode, headers, multiValueHeaders, body, isBase64Encoded}``, headers and
   multiValueHeaders merged with multiValueHeaders winning for a name in both; anything else, or
   a function error (``X-Amz-Function-Error``,
   https://docs.aws.amazon.com/lambda/latest/api/API_Invoke.html), is a 502 ``{"message":
   "Internal server error"}``
   (https://docs.aws.amazon.com/apigateway/latest/developerguide/handle-errors-in-lambda-integration.html,
   https://repost.aws/knowledge-center/malformed-502-api-gateway). A base64 body is decoded only
   when the first media type of the request's Accept header is a binary media type (rule 6's
   pages): with none declared the client gets the base64 text, as from AWS.
8. Integration timeout: 29 s by default, then 504 ``{"message": "Endpoint request timed out"}``
   (quota on the page of rule 1; gateway response INTEGRATION_TIMEOUT on the page of rule 2).
9. Every answer carries ``x-amzn-RequestId`` ($context.requestId) and ``x-amz-apigw-id``
   ($context.extendedRequestId,
   https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-mapping-template-reference.html#context-variable-reference);
   gateway errors carry ``x-amzn-ErrorType`` as API Gateway sends it (see `ERRORS`).

Decisions where AWS's documentation is silent (each also at the code):

- Trailing slash: one trailing ``/`` is ignored for matching (``/devices/`` is ``/devices``, as
  REST APIs route it); the event's ``path`` keeps what the client sent; the method ARN uses the
  path without it. Empty segments elsewhere (``//devices``, ``/devices//commands``) match no
  resource: 403 Missing Authentication Token.
- Percent-encoding: the path is split on ``/`` first and each segment decoded, so ``%2F`` stays
  inside a path parameter; literals are compared decoded; pathParameters are decoded; ``path``
  and the method ARN keep the encoding the client sent. A malformed escape, a segment that does
  not decode to UTF-8, or a non-ASCII or control character in the target is a 400
  ``{"message":"Bad Request"}`` (the edge would refuse it; nothing runs). Query strings are
  decoded the same way; ``+`` is kept as ``+``.
- Repeated headers and query parameters: the single-value maps hold the last value, the
  multi-value maps all of them, names grouped case-insensitively under their first spelling.
  A repeated Authorization header: the last value is the token.
- 401 is not cached: only an authorizer's output (a policy, Allow or Deny) is. The pages of rule 4
  cache "authorizer responses", i.e. policies; a function error is no response. Not caching
  costs authorizer calls, never a wrong answer: the authorizer's 401 is a pure function of the
  header. Errors (500) are not cached either.
- The authorizer's invocation timing out (InvokeTimeout, bounded by the integration timeout) or
  failing is the same 500 ``{"message": null}`` as its function errors.
- Paths have no ``/{stage}`` prefix: the front door is the API as its custom domain serves it
  (mapped at the root, components/rest_api.py); the stage still appears in the method ARN and
  in ``requestContext.path``, as AWS gives them.
- Concurrent first requests with one token each call the authorizer (no request coalescing);
  the last output stored wins, every one of them is a valid output for that token.
- ``integrationLatency`` in the handler's ``requestContext.authorizer`` is the authorizer call's
  milliseconds, 0 when the policy came from the cache. Context values reach the handler as
  strings (numbers and booleans stringified), as REST APIs pass them.
- A request with no body bytes has ``body: null``; a body that is not UTF-8 (text mode) is
  decoded with replacement characters, as a text payload is, and logged.
- The proxy response: ``statusCode`` must be an integer 200..599 (1xx cannot end an HTTP/1.1
  exchange); keys other than the five documented are refused (502); header values may be JSON
  strings, numbers or booleans; a header with CR, LF or NUL is refused (it would split the
  response). Content-Length, Transfer-Encoding and Connection from the function are dropped: the
  server frames the message. Without a Content-Type the answer is application/json.
- A malformed request line, a header with CR/LF/NUL, a method that is not an HTTP token: 400.
  A method no route has (HEAD, OPTIONS, lower-case ``get``): 403 Missing Authentication Token.
- ``x-amzn-ErrorType`` is sent only where it is known from API Gateway's answers (``ERRORS``);
  for 400, 413 and 504 none is invented.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import http
import io
import ipaddress
import json
import logging
import re
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from components.routes import IDENTITY_VALIDATION, Route
from local.apigw_policy import PolicyError, Stage, explain, parse_policy

log = logging.getLogger(__name__)

MAX_REQUEST_BYTES = 10 * 1024 * 1024
"""API Gateway REST payload quota, 10 MB (https://docs.aws.amazon.com/apigateway/latest/developerguide/limits.html)."""
LAMBDA_PAYLOAD_BYTES = 6 * 1024 * 1024
"""Lambda's synchronous invocation payload quota, 6 MB each way
(https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html)."""
MAX_TTL_SECONDS = 3600
"""The longest authorizer result TTL API Gateway accepts (API_Authorizer.html)."""
CACHE_ENTRIES = 10_000
"""Cached tokens kept at most; past it expired entries go first, then the oldest (API Gateway
does not document its cache's size; this only keeps a hostile client from growing memory)."""
RESPONSE_KEYS = frozenset({"statusCode", "headers", "multiValueHeaders", "body", "isBase64Encoded"})
_FRAMING_HEADERS = frozenset({"content-length", "transfer-encoding", "connection"})
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_BAD_VALUE = re.compile(r"[\r\n\x00\ud800-\udfff]")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


@dataclass(frozen=True)
class LambdaResult:
    """One invocation's answer, as Lambda's Invoke API gives it."""

    payload: bytes
    """What the function returned, or the error document ``{"errorType", "errorMessage"}``."""
    function_error: bool
    """The runtime reported an error (Invoke's ``X-Amz-Function-Error`` header)."""


class InvokeTimeout(Exception):
    """Raised by an `Invoker` when the function did not answer within its timeout."""


Invoker = Callable[[dict[str, Any], float], LambdaResult]
"""Calls a function with an event and a timeout in seconds."""


@dataclass(frozen=True)
class GatewayError:
    """One of API Gateway's own answers (a gateway response)."""

    status: int
    body: bytes
    error_type: str | None
    """``x-amzn-ErrorType``; None where API Gateway's value is not known here."""
    outcome: str


# Bodies byte for byte as API Gateway sends them (its default gateway response templates, the
# spacing included); error types as its answers carry them (supported-gateway-response-types.html
# lists the responses and statuses, not the header values).
ERRORS = {
    e.outcome: e
    for e in (
        GatewayError(400, b'{"message":"Bad Request"}', None, "bad-request"),
        GatewayError(
            403,
            b'{"message":"Missing Authentication Token"}',
            "MissingAuthenticationTokenException",
            "missing-token",
        ),
        GatewayError(401, b'{"message":"Unauthorized"}', "UnauthorizedException", "unauthorized"),
        GatewayError(
            403,
            b'{"Message":"User is not authorized to access this resource with an explicit deny"}',
            "AccessDeniedException",
            "deny",
        ),
        GatewayError(
            403,
            b'{"Message":"User is not authorized to access this resource"}',
            "AccessDeniedException",
            "implicit-deny",
        ),
        GatewayError(
            500, b'{"message": null}', "AuthorizerConfigurationException", "authorizer-error"
        ),
        GatewayError(413, b'{"message":"Request Too Long"}', None, "too-large"),
        GatewayError(504, b'{"message": "Endpoint request timed out"}', None, "timeout"),
        GatewayError(
            502,
            b'{"message": "Internal server error"}',
            "InternalServerErrorException",
            "handler-error",
        ),
        GatewayError(
            502,
            b'{"message": "Internal server error"}',
            "InternalServerErrorException",
            "bad-response",
        ),
        GatewayError(
            502,
            b'{"message": "Internal server error"}',
            "InternalServerErrorException",
            "invoke-failed",
        ),
        GatewayError(
            500,
            b'{"message": "Internal server error"}',
            "InternalServerErrorException",
            "gateway-bug",
        ),
    )
}
OUTCOMES = ("allow", *ERRORS)
"""Every `Response.outcome`: "allow" when the handler answered, else the gateway error's name."""


@dataclass(frozen=True)
class Response:
    """The HTTP answer, with why (for tests, logs and the load tool)."""

    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes
    outcome: str
    """One of `OUTCOMES`."""
    request_id: str
    cached: bool | None = None
    """Whether the authorizer's output came from the cache; None when it was not consulted."""

    def header(self, name: str) -> str | None:
        """The last value of header `name` (case-insensitive), or None."""
        values = [v for k, v in self.headers if k.lower() == name.lower()]
        return values[-1] if values else None

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass(frozen=True)
class Stats:
    authorizer_calls: int
    handler_calls: int
    cache_hits: int
    cache_misses: int
    outcomes: Mapping[str, int]


@dataclass(frozen=True)
class _Grant:
    """A valid authorizer output."""

    principal_id: str
    policy: Mapping[str, Any]
    context: Mapping[str, str]


@dataclass(frozen=True)
class _Target:
    raw_path: str
    """As the client sent it (percent-encoding kept)."""
    segments: tuple[str, ...]
    """Decoded, trailing slash ignored."""
    arn_path: str
    query: tuple[tuple[str, str], ...]


class _BadRequest(Exception):
    pass


def _unquote_strict(text: str) -> str:
    """Percent-decoding that refuses what it cannot decode: a malformed escape or non-UTF-8."""
    if "%" not in text:
        return text
    out = bytearray()
    i = 0
    while i < len(text):
        char = text[i]
        if char == "%":
            pair = text[i + 1 : i + 3]
            if len(pair) != 2 or not all(c in "0123456789abcdefABCDEF" for c in pair):
                raise _BadRequest(f"malformed percent-escape at {text[i : i + 3]!r}")
            out.append(int(pair, 16))
            i += 3
        else:
            out += char.encode("ascii")
            i += 1
    try:
        return out.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _BadRequest(f"percent-escapes do not decode to UTF-8 ({exc.reason})") from exc


def _parse_target(target: str) -> _Target:
    if target.startswith(("http://", "https://")):  # absolute-form (RFC 9112 section 3.2.2)
        rest = target.split("://", 1)[1]
        target = "/" + rest.split("/", 1)[1] if "/" in rest else "/"
    if not target.startswith("/"):
        raise _BadRequest(f"the request target must start with /, got {target[:80]!r}")
    if any(not 0x21 <= ord(c) <= 0x7E for c in target):
        raise _BadRequest("the request target has a non-ASCII, space or control character")
    path, _, query = target.partition("?")
    path = path.partition("#")[0]
    # Decision (module docstring): one trailing slash is ignored for matching.
    trimmed = path[:-1] if len(path) > 1 and path.endswith("/") else path
    segments = tuple(_unquote_strict(s) for s in trimmed[1:].split("/"))
    pairs = []
    for piece in query.split("&"):
        if not piece:
            continue
        name, _, value = piece.partition("=")
        if name:
            pairs.append((_unquote_strict(name), _unquote_strict(value)))
    return _Target(path, segments, trimmed, tuple(pairs))


def _media_type(value: str | None) -> str:
    return (value or "").split(",")[0].split(";")[0].strip().lower()


def _media_matches(patterns: Sequence[str], value: str | None) -> bool:
    """Whether media type `value` is one of `patterns` (``image/png``, ``image/*``, ``*/*``)."""
    kind = _media_type(value)
    if "/" not in kind:
        return False
    major, minor = kind.split("/", 1)
    for pattern in patterns:
        p_major, _, p_minor = pattern.lower().partition("/")
        if p_major in ("*", major) and p_minor in ("*", minor):
            return True
    return False


def _scalar(value: Any) -> str | None:
    """A JSON scalar as API Gateway stringifies it, or None for null, objects and arrays."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, int | float):
        return json.dumps(value)
    return None


def _grant(payload: bytes) -> _Grant | None:
    """The authorizer's output if it is one API Gateway accepts (api-gateway-lambda-authorizer-
    output.html: principalId, policyDocument, optional context of string, number and boolean
    values, optional usageIdentifierKey), else None."""
    try:
        doc = json.loads(payload)
    except (ValueError, RecursionError):
        return None
    if not isinstance(doc, dict) or not isinstance(doc.get("principalId"), str):
        return None
    try:
        parse_policy(doc.get("policyDocument"))  # type: ignore[arg-type]
    except PolicyError as exc:
        log.warning("authorizer policy refused: %s", exc)
        return None
    context = doc.get("context")
    if context is None:
        context = {}
    if not isinstance(context, dict):
        return None
    strings = {k: _scalar(v) for k, v in context.items()}
    if any(v is None for v in strings.values()):
        log.warning("authorizer context has a value that is not a string, number or boolean")
        return None
    return _Grant(
        doc["principalId"],
        doc["policyDocument"],
        {k: v for k, v in strings.items() if v is not None},
    )


def _is_unauthorized(payload: bytes) -> bool:
    """The function error API Gateway turns into 401: errorMessage exactly ``Unauthorized``."""
    try:
        doc = json.loads(payload)
    except (ValueError, RecursionError):
        return False
    return isinstance(doc, dict) and doc.get("errorMessage") == "Unauthorized"


def _group(
    pairs: Iterable[tuple[str, str]], *, fold_case: bool
) -> tuple[dict[str, str], dict[str, list[str]]] | None:
    """Single-value (last wins) and multi-value maps; None when there are none (the event's
    null). Header names (`fold_case`) are grouped case-insensitively under their first spelling
    (RFC 9110 section 5.1); query parameter names are case-sensitive."""
    spelling: dict[str, str] = {}
    multi: dict[str, list[str]] = {}
    for name, value in pairs:
        key = spelling.setdefault(name.lower() if fold_case else name, name)
        multi.setdefault(key, []).append(value)
    if not multi:
        return None
    return {k: v[-1] for k, v in multi.items()}, multi


class FrontDoor:
    """API Gateway REST in front of the authorizer and the handler, for one stage.

    `routes`: the route table. `authorizer`, `handler`: how to invoke the two functions.
    `stage`: where the API is (its method ARNs, requestContext). `ttl_seconds`: the authorizer
    result cache, 0..3600, 0 disabling it; default 300. `clock`: monotonic seconds, for the
    cache (tests pass a fake). `integration_timeout_s`: the handler's, seconds, default 29 (it
    also bounds the authorizer call). `identity_validation`: the regular expression the
    Authorization header must match in full before the authorizer is called ("" for none).
    `binary_media_types`: the API's binaryMediaTypes, default none (as deployed).

    Thread-safe: the cache and counters are behind a lock, the invokers are called outside it.
    """

    def __init__(
        self,
        routes: Sequence[Route],
        *,
        authorizer: Invoker,
        handler: Invoker,
        stage: Stage = Stage(),  # noqa: B008 (frozen, so one shared default is safe)
        ttl_seconds: int = 300,
        clock: Callable[[], float] = time.monotonic,
        integration_timeout_s: float = 29.0,
        identity_validation: str = IDENTITY_VALIDATION,
        binary_media_types: Sequence[str] = (),
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        if isinstance(ttl_seconds, bool) or not isinstance(ttl_seconds, int):
            raise TypeError(f"ttl_seconds must be an int of seconds, got {ttl_seconds!r}")
        if not 0 <= ttl_seconds <= MAX_TTL_SECONDS:
            raise ValueError(
                f"ttl_seconds must be 0..{MAX_TTL_SECONDS} (API Gateway's authorizer cache range), "
                f"got {ttl_seconds}; use 0 to disable the cache"
            )
        if not integration_timeout_s > 0:
            raise ValueError(f"integration_timeout_s must be > 0, got {integration_timeout_s!r}")
        try:
            self._identity = re.compile(identity_validation) if identity_validation else None
        except re.error as exc:
            raise ValueError(
                f"identity_validation {identity_validation!r} is not a regular expression ({exc})"
            ) from exc
        if not routes:
            raise ValueError("routes must name at least one route (app/routes.json)")
        self._resources: dict[str, dict[str, Route]] = {}
        for route in routes:
            self._resources.setdefault(route.path, {})[route.method] = route
        self._templates = {p: tuple(p.strip("/").split("/")) for p in self._resources}
        self._authorizer = authorizer
        self._handler = handler
        self.stage = stage
        self.ttl_seconds = ttl_seconds
        self._clock = clock
        self._wall_clock = wall_clock
        self.integration_timeout_s = float(integration_timeout_s)
        self.binary_media_types = tuple(binary_media_types)
        self._lock = threading.Lock()
        self._cache: dict[str, tuple[float, _Grant]] = {}
        self._counts: Counter[str] = Counter()

    # -- counters -------------------------------------------------------------------------------

    def _count(self, name: str) -> None:
        with self._lock:
            self._counts[name] += 1

    @property
    def authorizer_calls(self) -> int:
        return self.stats().authorizer_calls

    @property
    def handler_calls(self) -> int:
        return self.stats().handler_calls

    @property
    def cache_hits(self) -> int:
        return self.stats().cache_hits

    def stats(self) -> Stats:
        """A consistent snapshot of the counters."""
        with self._lock:
            c = self._counts.copy()
        return Stats(
            authorizer_calls=c["authorizer_calls"],
            handler_calls=c["handler_calls"],
            cache_hits=c["cache_hits"],
            cache_misses=c["cache_misses"],
            outcomes={o: c[f"outcome:{o}"] for o in OUTCOMES if c[f"outcome:{o}"]},
        )

    def flush_cache(self) -> None:
        """Forget every cached authorizer output (API Gateway's "flush authorizer cache")."""
        with self._lock:
            self._cache.clear()

    # -- the request ----------------------------------------------------------------------------

    def handle(
        self,
        method: str,
        target: str,
        headers: Sequence[tuple[str, str]],
        body: bytes,
        source_ip: str = "127.0.0.1",
    ) -> Response:
        """Answer one request: `target` is the request target as sent (path and query string)."""
        request_id = str(uuid.uuid4())
        try:
            response = self._handle(
                request_id=request_id,
                method=method,
                target=target,
                headers=headers,
                body=body,
                source_ip=source_ip,
            )
        except Exception:  # a bug here must not take the server down; tests assert it never runs
            log.exception("%s: front door failed on %s %r", request_id, method, target[:200])
            response = self._error("gateway-bug", request_id)
        self._count(f"outcome:{response.outcome}")
        log.info(
            "%s %s %s -> %d %s%s",
            request_id,
            method[:16],
            target[:200],
            response.status,
            response.outcome,
            " (cached policy)" if response.cached else "",
        )
        return response

    def _error(self, outcome: str, request_id: str, cached: bool | None = None) -> Response:
        error = ERRORS[outcome]
        headers = [("Content-Type", "application/json"), *self._ids(request_id)]
        if error.error_type:
            headers.append(("x-amzn-ErrorType", error.error_type))
        return Response(error.status, tuple(headers), error.body, outcome, request_id, cached)

    @staticmethod
    def _ids(request_id: str) -> list[tuple[str, str]]:
        # $context.requestId and $context.extendedRequestId (context variable reference, rule 9).
        extended = base64.b64encode(hashlib.sha256(request_id.encode()).digest()[:12]).decode()
        return [("x-amzn-RequestId", request_id), ("x-amz-apigw-id", extended)]

    def _match(self, segments: tuple[str, ...]) -> tuple[str, dict[str, str]] | None:
        """The resource a path reaches and its path parameters. A `{param}` takes one non-empty
        segment (api-gateway-method-settings-method-request.html); where two resources match,
        the one with a literal at the first place they differ wins, as literal resources take
        precedence over path parameters."""
        best: tuple[tuple[int, ...], str, dict[str, str]] | None = None
        for path, template in self._templates.items():
            if len(template) != len(segments):
                continue
            params: dict[str, str] = {}
            rank = []
            for part, segment in zip(template, segments, strict=True):
                if part.startswith("{"):
                    if not segment:
                        break
                    params[part[1:-1]] = segment
                    rank.append(0)
                elif part == segment:
                    rank.append(1)
                else:
                    break
            else:
                if best is None or tuple(rank) > best[0]:
                    best = (tuple(rank), path, params)
        return None if best is None else (best[1], best[2])

    def _handle(  # noqa: PLR0911 - one return per gateway response
        self,
        *,
        request_id: str,
        method: str,
        target: str,
        headers: Sequence[tuple[str, str]],
        body: bytes,
        source_ip: str,
    ) -> Response:
        # Rule 1: the 10 MB payload quota, before anything else runs.
        if len(body) > MAX_REQUEST_BYTES:
            return self._error("too-large", request_id)
        if not _TOKEN.fullmatch(method):
            return self._error("bad-request", request_id)
        for name, value in headers:
            if not _TOKEN.fullmatch(name) or _BAD_VALUE.search(value):
                return self._error("bad-request", request_id)
        try:
            parsed = _parse_target(target)
        except _BadRequest as exc:
            log.info("%s: bad request target: %s", request_id, exc)
            return self._error("bad-request", request_id)
        # Rule 2: no resource, or no such method on it: 403 before the authorizer.
        found = self._match(parsed.segments)
        route = self._resources[found[0]].get(method) if found else None
        if found is None or route is None:
            return self._error("missing-token", request_id)
        # Rule 3: the identity source; the last Authorization header (decision in the docstring).
        tokens = [v for k, v in headers if k.lower() == "authorization"]
        token = tokens[-1] if tokens else ""
        if not token or (self._identity and not self._identity.fullmatch(token)):
            return self._error("unauthorized", request_id)
        method_arn = self.stage.method_arn(method, parsed.arn_path)
        decided = self._authorize(request_id, token, method_arn)
        if isinstance(decided, Response):
            return decided
        grant, cached, latency_ms = decided
        why = explain(grant.policy, method_arn)
        log.debug("%s: %s by statement %s for %s", request_id, why.outcome, why.index, method_arn)
        if why.outcome != "Allow":
            outcome = "deny" if why.outcome == "ExplicitDeny" else "implicit-deny"
            return self._error(outcome, request_id, cached)
        event = self._event(
            request_id=request_id,
            route=route,
            method=method,
            target=parsed,
            params=found[1],
            headers=headers,
            body=body,
            source_ip=source_ip,
            grant=grant,
            latency_ms=latency_ms,
        )
        return self._integrate(request_id, event, headers, cached)

    def _authorize(  # noqa: PLR0911 - one return per gateway response
        self, request_id: str, token: str, method_arn: str
    ) -> Response | tuple[_Grant, bool, int]:
        """The authorizer's output for `token`: from the cache (rule 4), or from a call."""
        now = self._clock()
        with self._lock:
            entry = self._cache.get(token) if self.ttl_seconds else None
            if entry is not None and now < entry[0]:
                self._counts["cache_hits"] += 1
                return entry[1], True, 0
            self._counts["cache_misses"] += 1
            self._counts["authorizer_calls"] += 1
        event = {"type": "TOKEN", "authorizationToken": token, "methodArn": method_arn}
        started = time.perf_counter()
        try:
            result = self._authorizer(event, self.integration_timeout_s)
        except InvokeTimeout:
            log.warning("%s: the authorizer timed out", request_id)
            return self._error("authorizer-error", request_id, False)
        except Exception:
            log.exception("%s: invoking the authorizer failed", request_id)
            return self._error("authorizer-error", request_id, False)
        latency_ms = round((time.perf_counter() - started) * 1000)
        if result.function_error:
            if _is_unauthorized(result.payload):
                return self._error("unauthorized", request_id, False)
            log.warning("%s: authorizer error %r", request_id, result.payload[:300])
            return self._error("authorizer-error", request_id, False)
        grant = _grant(result.payload)
        if grant is None:
            log.warning("%s: malformed authorizer output %r", request_id, result.payload[:300])
            return self._error("authorizer-error", request_id, False)
        if self.ttl_seconds:
            with self._lock:
                if len(self._cache) >= CACHE_ENTRIES:
                    self._evict(now)
                self._cache[token] = (self._clock() + self.ttl_seconds, grant)
        return grant, False, latency_ms

    def _evict(self, now: float) -> None:
        """Called with the lock held: drop expired entries, then the oldest, to make room."""
        for key in [k for k, (expires, _) in self._cache.items() if expires <= now]:
            del self._cache[key]
        while len(self._cache) >= CACHE_ENTRIES:
            del self._cache[next(iter(self._cache))]

    def _event(
        self,
        *,
        request_id: str,
        route: Route,
        method: str,
        target: _Target,
        params: dict[str, str],
        headers: Sequence[tuple[str, str]],
        body: bytes,
        source_ip: str,
        grant: _Grant,
        latency_ms: int,
    ) -> dict[str, Any]:
        """The proxy integration's event v1 (set-up-lambda-proxy-integrations.html, input
        format; the sample app/events/handler/*.json)."""
        wall = self._wall_clock()
        moment = datetime.fromtimestamp(wall, UTC)
        names = {k.lower() for k, _ in headers}
        added = []
        # What API Gateway adds on the way in: the client's address (appended to a forwarded
        # chain) and, with X-Ray tracing on the stage, a trace header.
        forwarded = [v for k, v in headers if k.lower() == "x-forwarded-for"]
        xff = f"{forwarded[-1]}, {source_ip}" if forwarded else source_ip
        rest = [(k, v) for k, v in headers if k.lower() != "x-forwarded-for"]
        added.append(("X-Forwarded-For", xff))
        if "x-amzn-trace-id" not in names:
            trace = f"Root=1-{int(wall):08x}-{uuid.uuid4().hex[:24]}"
            added.append(("X-Amzn-Trace-Id", trace))
        grouped = _group([*rest, *added], fold_case=True)
        query = _group(target.query, fold_case=False)
        content_type = next((v for k, v in reversed(headers) if k.lower() == "content-type"), None)
        user_agent = next((v for k, v in reversed(headers) if k.lower() == "user-agent"), None)
        text: str | None
        if not body:
            text, binary = None, False
        elif _media_matches(self.binary_media_types, content_type):
            text, binary = base64.b64encode(body).decode("ascii"), True
        else:
            text, binary = body.decode("utf-8", errors="replace"), False
            if "\ufffd" in text and b"\xef\xbf\xbd" not in body:
                log.warning("%s: a text body that is not UTF-8 lost bytes", request_id)
        stage = self.stage
        domain = f"{stage.api_id}.execute-api.{stage.region}.amazonaws.com"
        authorizer: dict[str, Any] = dict(grant.context)
        authorizer["principalId"] = grant.principal_id
        authorizer["integrationLatency"] = latency_ms
        return {
            "resource": route.path,
            "path": target.raw_path,
            "httpMethod": method,
            "headers": grouped[0] if grouped else None,
            "multiValueHeaders": grouped[1] if grouped else None,
            "queryStringParameters": query[0] if query else None,
            "multiValueQueryStringParameters": query[1] if query else None,
            "pathParameters": params or None,
            "stageVariables": None,
            "requestContext": {
                "resourceId": hashlib.sha256(route.path.encode()).hexdigest()[:6],
                "resourcePath": route.path,
                "httpMethod": method,
                "extendedRequestId": self._ids(request_id)[1][1],
                "requestTime": (
                    f"{moment:%d}/{_MONTHS[moment.month - 1]}/{moment:%Y:%H:%M:%S} +0000"
                ),
                "path": f"/{stage.stage}{target.raw_path}",
                "accountId": stage.account,
                "protocol": "HTTP/1.1",
                "stage": stage.stage,
                "domainPrefix": stage.api_id,
                "requestTimeEpoch": int(wall * 1000),
                "requestId": request_id,
                "identity": {
                    "cognitoIdentityPoolId": None,
                    "accountId": None,
                    "cognitoIdentityId": None,
                    "caller": None,
                    "sourceIp": source_ip,
                    "principalOrgId": None,
                    "accessKey": None,
                    "cognitoAuthenticationType": None,
                    "cognitoAuthenticationProvider": None,
                    "userArn": None,
                    "userAgent": user_agent,
                    "user": None,
                },
                "domainName": domain,
                "apiId": stage.api_id,
                "authorizer": authorizer,
            },
            "body": text,
            "isBase64Encoded": binary,
        }

    def _integrate(  # noqa: PLR0911 - one return per gateway response
        self,
        request_id: str,
        event: dict[str, Any],
        headers: Sequence[tuple[str, str]],
        cached: bool,
    ) -> Response:
        # Rule 1: Lambda's 6 MB event quota; the function is not called.
        size = len(json.dumps(event, ensure_ascii=False, separators=(",", ":")).encode())
        if size > LAMBDA_PAYLOAD_BYTES:
            log.info(
                "%s: event of %d bytes is over Lambda's %d", request_id, size, LAMBDA_PAYLOAD_BYTES
            )
            return self._error("too-large", request_id, cached)
        self._count("handler_calls")
        try:
            result = self._handler(event, self.integration_timeout_s)
        except InvokeTimeout:  # rule 8
            return self._error("timeout", request_id, cached)
        except Exception:
            log.exception("%s: invoking the handler failed", request_id)
            return self._error("invoke-failed", request_id, cached)
        if result.function_error:  # rule 7
            log.warning("%s: handler error %r", request_id, result.payload[:300])
            return self._error("handler-error", request_id, cached)
        if len(result.payload) > LAMBDA_PAYLOAD_BYTES:
            log.warning("%s: handler response over Lambda's 6 MB", request_id)
            return self._error("bad-response", request_id, cached)
        accept = next((v for k, v in reversed(headers) if k.lower() == "accept"), None)
        parsed = self._proxy_response(result.payload, accept)
        if isinstance(parsed, str):
            log.warning("%s: malformed Lambda proxy response: %s", request_id, parsed)
            return self._error("bad-response", request_id, cached)
        status, out_headers, body = parsed
        out_headers.extend(self._ids(request_id))
        return Response(status, tuple(out_headers), body, "allow", request_id, cached)

    def _proxy_response(  # noqa: PLR0911, PLR0912 - one return per rule of the format
        self, payload: bytes, accept: str | None
    ) -> tuple[int, list[tuple[str, str]], bytes] | str:
        """The proxy response (output format, rule 7) as status, headers and body, or why not."""
        try:
            doc = json.loads(payload)
        except (ValueError, RecursionError):
            return "not JSON"
        if not isinstance(doc, dict):
            return f"not an object: {type(doc).__name__}"
        unknown = sorted(set(doc) - RESPONSE_KEYS)
        if unknown:
            return f"unknown keys {unknown}"
        status = doc.get("statusCode")
        if isinstance(status, bool) or not isinstance(status, int) or not 200 <= status <= 599:
            return f"statusCode must be an integer 200..599, got {status!r}"
        body = doc.get("body")
        if body is not None and not isinstance(body, str):
            return f"body must be a string, got {type(body).__name__}"
        encoded = doc.get("isBase64Encoded", False)
        if encoded is not None and not isinstance(encoded, bool):
            return f"isBase64Encoded must be a boolean, got {encoded!r}"
        single = doc.get("headers") or {}
        multi = doc.get("multiValueHeaders") or {}
        if not isinstance(single, dict) or not isinstance(multi, dict):
            return "headers and multiValueHeaders must be objects"
        merged: list[tuple[str, str]] = []
        in_multi = {k.lower() for k in multi}
        for name, values in multi.items():
            if not isinstance(values, list):
                return f"multiValueHeaders[{name!r}] must be a list"
            merged.extend((name, v) for v in values)
        merged.extend((k, v) for k, v in single.items() if k.lower() not in in_multi)
        out: list[tuple[str, str]] = []
        for name, value in merged:
            text = _scalar(value)
            if text is None or not _TOKEN.fullmatch(name) or _BAD_VALUE.search(text):
                return f"header {name!r}: {value!r} is not a valid header"
            if name.lower() not in _FRAMING_HEADERS:
                out.append((name, text))
        if not any(k.lower() == "content-type" for k, _ in out):
            out.insert(0, ("Content-Type", "application/json"))
        raw = (body or "").encode("utf-8")
        if encoded and _media_matches(self.binary_media_types, accept):
            try:
                raw = base64.b64decode(raw, validate=True)
            except binascii.Error as exc:
                return f"isBase64Encoded but the body is not base64 ({exc})"
        return status, out, raw


# -- the HTTP server ------------------------------------------------------------------------------


_CHUNK_SIZE = re.compile(rb"[0-9a-fA-F]{1,16}")


def _read_chunked(rfile: io.BufferedIOBase, limit: int) -> bytes | None:
    """A chunked body (RFC 9112 section 7.1), None past `limit`; ValueError if malformed."""
    body = bytearray()
    while True:
        line = rfile.readline(65537)
        size_text = line.split(b";", 1)[0].strip()
        if not line.endswith(b"\n") or not _CHUNK_SIZE.fullmatch(size_text):
            raise ValueError("malformed chunk size line")
        size = int(size_text, 16)
        if size == 0:
            while rfile.readline(65537).strip():  # trailers, up to the blank line
                pass
            return bytes(body)
        if len(body) + size > limit:
            return None
        data = rfile.read(size)
        if len(data) < size or rfile.read(2) != b"\r\n":
            raise ValueError("truncated chunk")
        body += data


class _RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "rust-on-aws-local-gateway"
    front: FrontDoor

    def __getattr__(self, name: str) -> Any:
        # Every method reaches the front door (it answers 403 to the ones no route has), instead
        # of http.server's 501 for a method without a do_* handler.
        if name.startswith("do_"):
            return self._dispatch
        raise AttributeError(name)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s %s", self.address_string(), format % args)

    def _content_length(self) -> int | None:
        values = self.headers.get_all("Content-Length") or []
        if not values:
            return 0
        if len(set(values)) != 1 or not values[0].strip().isdigit():
            return None
        return int(values[0])

    def send_error(
        self,
        code: int,
        message: str | None = None,
        explain: str | None = None,  # noqa: ARG002 - http.server's signature; no place in JSON
    ) -> None:
        # http.server's own refusals (bad request line, header too long, too many headers): a
        # JSON answer with an HTTP/1.1 status line even to a request line without a version, and
        # never a 5xx (505 for an unknown HTTP version becomes 400).
        log.debug("refused at the HTTP layer: %d %s", code, message)
        if code >= 500:
            code = 400
        self.request_version = "HTTP/1.1"
        self._plain(code, json.dumps({"message": http.HTTPStatus(code).phrase}).encode())

    def handle_expect_100(self) -> bool:
        # Refuse an oversized body before the client sends it.
        length = self._content_length()
        if length is not None and length > MAX_REQUEST_BYTES:
            self._plain(413, b'{"message":"Request Too Long"}')
            return False
        return super().handle_expect_100()

    def _plain(self, status: int, body: bytes) -> None:
        """A framing-level answer; the connection closes (its body may be unread)."""
        self.close_connection = True
        headers = [
            ("Content-Type", "application/json"),
            *FrontDoor._ids(str(uuid.uuid4())),
        ]
        self._write(status, headers, body, close=True)

    def _write(
        self, status: int, headers: Sequence[tuple[str, str]], body: bytes, *, close: bool
    ) -> None:
        try:
            phrase = http.HTTPStatus(status).phrase
        except ValueError:
            phrase = ""
        lines = [f"HTTP/1.1 {status} {phrase}"]
        lines += [f"{k}: {v}" for k, v in headers]
        # 204 and 304 have no body and no Content-Length (RFC 9110 sections 8.6, 15.3.5, 15.4.5):
        # a function's body on a 204 is dropped. HEAD gets the length of the body it would get.
        empty_status = status in (204, 304)
        if not empty_status:
            lines.append(f"Content-Length: {len(body)}")
        if close:
            lines.append("Connection: close")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8")
        no_body = empty_status or self.command == "HEAD"
        self.wfile.write(head if no_body else head + body)
        self.wfile.flush()
        self.log_request(status, len(body))

    def _dispatch(self) -> None:
        try:
            self._serve_one()
        except (ConnectionError, TimeoutError):
            self.close_connection = True
        except Exception:
            log.exception("local gateway: failed on %s %r", self.command, self.path[:200])
            self.close_connection = True

    def _serve_one(self) -> None:
        chunked = "chunked" in (self.headers.get("Transfer-Encoding") or "").lower()
        if self.headers.get("Transfer-Encoding") is not None:
            if not chunked or self.headers.get("Content-Length") is not None:
                self._plain(400, b'{"message":"Bad Request"}')  # request smuggling shapes
                return
            try:
                data = _read_chunked(self.rfile, MAX_REQUEST_BYTES)
            except ValueError:
                self._plain(400, b'{"message":"Bad Request"}')
                return
            if data is None:
                self._plain(413, b'{"message":"Request Too Long"}')
                return
            body = data
        else:
            length = self._content_length()
            if length is None:
                self._plain(400, b'{"message":"Bad Request"}')
                return
            if length > MAX_REQUEST_BYTES:  # rule 1, without reading the body
                self._plain(413, b'{"message":"Request Too Long"}')
                return
            body = self.rfile.read(length)
            if len(body) < length:
                self.close_connection = True
                return
        response = self.front.handle(
            self.command, self.path, list(self.headers.items()), body, self.client_address[0]
        )
        self._write(response.status, response.headers, response.body, close=self.close_connection)


class LocalServer:
    """The front door on http://127.0.0.1:<port>; `close()` stops it."""

    def __init__(self, httpd: ThreadingHTTPServer, thread: threading.Thread) -> None:
        self.httpd = httpd
        self._thread = thread
        host, port = httpd.server_address[:2]
        self.host = str(host)
        self.port = int(port)
        self.url = f"http://{self.host}:{self.port}"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> LocalServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def serve(front: FrontDoor, host: str = "127.0.0.1", port: int = 0) -> LocalServer:
    """Serve `front` over HTTP/1.1 on `host`:`port` (0: an ephemeral port), in daemon threads.

    Loopback only: the local stack has no TLS and trusts its callers."""
    try:
        loopback = ipaddress.ip_address(host).is_loopback and ":" not in host
    except ValueError:
        loopback = host == "localhost"
    if not loopback:
        raise ValueError(f"host must be an IPv4 loopback address such as 127.0.0.1, got {host!r}")
    handler = type("Handler", (_RequestHandler,), {"front": front})
    httpd = ThreadingHTTPServer((host, port), handler)
    httpd.daemon_threads = True
    thread = threading.Thread(
        target=httpd.serve_forever,
        kwargs={"poll_interval": 0.05},
        name="local-gateway",
        daemon=True,
    )
    thread.start()
    return LocalServer(httpd, thread)
