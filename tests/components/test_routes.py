"""components/routes.py: the route table contract (docs/contracts.md section 1)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

import pytest

from components.routes import Route, RouteError, load_routes, parse_routes

ROOT = Path(__file__).resolve().parents[2]


def table(*routes: Mapping[str, object]) -> dict[str, object]:
    return {"version": 1, "routes": list(routes)}


def test_project_route_table_loads() -> None:
    routes = load_routes(ROOT / "app" / "routes.json")
    assert Route("GET", "/devices/{device_id}", "devices:read") in routes
    assert Route("POST", "/devices/{device_id}/commands", "commands:write") in routes
    assert len(routes) >= 4


def test_segments() -> None:
    assert Route("GET", "/devices/{device_id}/tags", "x").segments == (
        "devices",
        "{device_id}",
        "tags",
    )


@pytest.mark.parametrize(
    ("route", "message"),
    [
        (
            {"method": "HEAD", "path": "/devices", "scope": "s"},
            "t: routes[0].method must be one of GET, POST, PUT, PATCH, DELETE, got 'HEAD'",
        ),
        (
            {"method": "GET", "path": "devices", "scope": "s"},
            "t: routes[0].path must start with / and name a resource, got 'devices'",
        ),
        (
            {"method": "GET", "path": "/", "scope": "s"},
            "t: routes[0].path must start with / and name a resource, got '/'",
        ),
        (
            {"method": "GET", "path": "/Devices", "scope": "s"},
            "t: routes[0].path segment 'Devices' of '/Devices' must be [a-z0-9_-]+ or {param} "
            "with param [a-z_][a-z0-9_]*",
        ),
        (
            {"method": "GET", "path": "/devices/{1id}", "scope": "s"},
            "t: routes[0].path segment '{1id}' of '/devices/{1id}' must be [a-z0-9_-]+ or "
            "{param} with param [a-z_][a-z0-9_]*",
        ),
        (
            {"method": "GET", "path": "/devices", "scope": ""},
            "t: routes[0].scope must be a non-empty string, got ''",
        ),
    ],
)
def test_bad_route(route: dict[str, object], message: str) -> None:
    with pytest.raises(RouteError) as info:
        parse_routes(table(route), "t")
    assert str(info.value) == message


def test_duplicate_route() -> None:
    route = {"method": "GET", "path": "/devices", "scope": "s"}
    with pytest.raises(RouteError) as info:
        parse_routes(table(route, route), "t")
    assert str(info.value) == "t: routes[1]: GET /devices is listed twice; remove one"


def test_wrong_version_and_empty() -> None:
    with pytest.raises(RouteError, match="version must be 1"):
        parse_routes({"version": 2, "routes": []}, "t")
    with pytest.raises(RouteError, match="routes must be a non-empty list"):
        parse_routes({"version": 1, "routes": []}, "t")


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(RouteError, match="not found; set routesPath"):
        load_routes(tmp_path / "routes.json")


def test_load_routes_reads_the_file(tmp_path: Path) -> None:
    path = tmp_path / "routes.json"
    path.write_text(json.dumps(table({"method": "GET", "path": "/a", "scope": "s"})))
    assert load_routes(path) == (Route("GET", "/a", "s"),)


def test_patterns_span_slashes() -> None:
    by_id = Route("GET", "/devices/{device_id}", "a:r")
    commands = Route("GET", "/devices/{device_id}/commands", "b:r")
    assert by_id.pattern_matches_requests_of(commands)  # GET/devices/* admits .../commands
    assert not commands.pattern_matches_requests_of(by_id)
    assert not by_id.pattern_matches_requests_of(Route("GET", "/devices", "a:r"))
    assert not by_id.pattern_matches_requests_of(Route("POST", "/devices/{x}/commands", "b:r"))
    assert Route("GET", "/devices/search", "c:r").pattern_matches_requests_of(by_id)


def test_a_table_no_policy_can_express_is_refused() -> None:
    """The Rust route table refuses the same table (app/core/src/routes.rs)."""
    doc = table(
        {"method": "GET", "path": "/a/{x}", "scope": "a:r"},
        {"method": "GET", "path": "/a/{x}/b/{y}", "scope": "b:r"},
        {"method": "GET", "path": "/a/{x}/b/{y}/c", "scope": "c:r"},
    )
    with pytest.raises(RouteError) as info:
        parse_routes(doc, "t")
    assert str(info.value) == (
        "t: route GET /a/{x}/b/{y} (b:r) cannot be granted exactly at API Gateway: `*` in an "
        "execute-api ARN matches `/`, so the ARN of GET /a/{x} (a:r) also matches it and a "
        "token without b:r needs a Deny for it, and that Deny would also match GET "
        "/a/{x}/b/{y}/c (c:r); give /a/{x}/b/{y} and /a/{x}/b/{y}/c the same scope or change a "
        "path segment"
    )
    same = table(
        {"method": "GET", "path": "/a/{x}", "scope": "a:r"},
        {"method": "GET", "path": "/a/{x}/b/{y}", "scope": "b:r"},
        {"method": "GET", "path": "/a/{x}/b/{y}/c", "scope": "b:r"},
    )
    assert len(parse_routes(same, "t")) == 3
