"""The route table (docs/contracts.md section 1): `app/routes.json` as frozen `Route`s."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
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
    return tuple(routes)


def load_routes(path: Path) -> tuple[Route, ...]:
    if not path.is_file():
        raise RouteError(f"route table {path} not found; set routesPath or restore app/routes.json")
    try:
        doc = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise RouteError(f"route table {path} is not JSON ({exc})") from exc
    return parse_routes(doc, str(path))


def routes_digest(routes: tuple[Route, ...]) -> str:
    """sha256 of the routes in a canonical form (a Deployment trigger)."""
    canonical = json.dumps([[r.method, r.path, r.scope] for r in routes])
    return hashlib.sha256(canonical.encode()).hexdigest()
