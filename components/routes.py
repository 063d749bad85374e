"""The route table (docs/contracts.md section 1): `app/routes.json` as frozen `Route`s."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
# The TOKEN authorizer's identity source and validation live here, beside the routes, so that the
# local front door (local/gateway.py, no Pulumi) applies the same rule as components/rest_api.py.
IDENTITY_SOURCE = "method.request.header.Authorization"
IDENTITY_VALIDATION = r"^Bearer roa_[a-z0-9]{12}_[A-Za-z0-9]{40}$"
"""Exactly the header of a well-formed token (app/core/src/token.rs: `roa_<12 a-z0-9>_<40
A-Za-z0-9>`): API Gateway answers 401 to anything else without calling the authorizer, so junk
never reaches the Lambda or the database. The Rust parser accepts exactly the same headers; both
are tested against app/token-cases.json."""
_LITERAL = re.compile(r"[a-z0-9_-]+")
_PARAM = re.compile(r"\{[a-z_][a-z0-9_]*\}")


class RouteError(Exception):
    """The route table breaks a rule of the contract."""


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    """API Gateway resource path, `{param}` parts included."""
    scope: str

    @property
    def segments(self) -> tuple[str, ...]:
        return tuple(self.path.strip("/").split("/"))

    def pattern_matches_requests_of(self, other: Route) -> bool:
        """Whether this route's policy ARN (each `{param}` as `*`) matches the execute-api ARN
        of some request of `other`. `*` in an execute-api ARN matches any characters, `/`
        included; a request's path parameter is one segment that may equal any literal."""
        return self.method == other.method and _covers(self.segments, other.segments)


def _covers(pattern: tuple[str, ...], template: tuple[str, ...]) -> bool:
    if not pattern:
        return not template
    head, rest = pattern[0], pattern[1:]
    if head.startswith("{"):  # `*`: one or more whole segments of the request
        return any(_covers(rest, template[k:]) for k in range(1, len(template) + 1))
    if not template:
        return False
    first = template[0]  # a literal takes one segment: the same literal, or a parameter
    return (first == head or first.startswith("{")) and _covers(rest, template[1:])


def policy_conflict(routes: tuple[Route, ...]) -> str | None:
    """Why the authorizer could not grant some token exactly its routes, or None.

    The authorizer allows a token's routes and denies each route it lacks that a granted
    route's `*` also matches (app/core/src/routes.rs, `denied_for`). That Deny must not match a
    request of a route of another scope, which the same token may hold. The Rust route table
    refuses the same tables.
    """
    for denied in routes:
        others = [r for r in routes if r.scope != denied.scope]
        shadow = next((r for r in others if r.pattern_matches_requests_of(denied)), None)
        if shadow is None:
            continue
        hit = next((r for r in others if denied.pattern_matches_requests_of(r)), None)
        if hit is not None:
            return (
                f"route {denied.method} {denied.path} ({denied.scope}) cannot be granted exactly "
                f"at API Gateway: `*` in an execute-api ARN matches `/`, so the ARN of "
                f"{shadow.method} {shadow.path} ({shadow.scope}) also matches it and a token "
                f"without {denied.scope} needs a Deny for it, and that Deny would also match "
                f"{hit.method} {hit.path} ({hit.scope}); give {denied.path} and {hit.path} the "
                "same scope or change a path segment"
            )
    return None


def parse_routes(doc: object, source: str) -> tuple[Route, ...]:
    """Validate a decoded route table; errors name the route index, the rule and the value."""
    if not isinstance(doc, dict) or doc.get("version") != 1:
        raise RouteError(f"{source}: version must be 1; fix the file (docs/contracts.md section 1)")
    items = doc.get("routes")
    if not isinstance(items, list) or not items:
        raise RouteError(f"{source}: routes must be a non-empty list; add at least one route")
    routes: list[Route] = []
    seen: set[tuple[str, str]] = set()
    for i, item in enumerate(items):
        where = f"{source}: routes[{i}]"
        if not isinstance(item, dict):
            raise RouteError(f"{where} must be an object with method, path and scope, got {item!r}")
        method, path, scope = item.get("method"), item.get("path"), item.get("scope")
        if method not in METHODS:
            raise RouteError(f"{where}.method must be one of {', '.join(METHODS)}, got {method!r}")
        if not isinstance(path, str) or not path.startswith("/") or path == "/":
            raise RouteError(f"{where}.path must start with / and name a resource, got {path!r}")
        for segment in path[1:].split("/"):
            if not (_LITERAL.fullmatch(segment) or _PARAM.fullmatch(segment)):
                raise RouteError(
                    f"{where}.path segment {segment!r} of {path!r} must be [a-z0-9_-]+ or "
                    "{param} with param [a-z_][a-z0-9_]*"
                )
        if not isinstance(scope, str) or not scope:
            raise RouteError(f"{where}.scope must be a non-empty string, got {scope!r}")
        if (method, path) in seen:
            raise RouteError(f"{where}: {method} {path} is listed twice; remove one")
        seen.add((method, path))
        routes.append(Route(method, path, scope))
    conflict = policy_conflict(tuple(routes))
    if conflict:
        raise RouteError(f"{source}: {conflict}")
    return tuple(routes)


def load_routes(path: Path) -> tuple[Route, ...]:
    if not path.is_file():
        raise RouteError(f"route table {path} not found; set routesPath or restore app/routes.json")
    try:
        doc = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise RouteError(f"route table {path} is not JSON ({exc})") from exc
    return parse_routes(doc, str(path))
