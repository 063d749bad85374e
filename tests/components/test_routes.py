"""components/routes.py: the route table contract (docs/contracts.md section 1)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

import pytest

from components.routes import Route, RouteError, load_routes, parse_routes, routes_digest

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


def test_digest_changes_with_any_route_field(tmp_path: Path) -> None:
    base = parse_routes(table({"method": "GET", "path": "/a", "scope": "s"}), "t")
    assert routes_digest(base) == routes_digest(base)
    for changed in (
        {"method": "POST", "path": "/a", "scope": "s"},
        {"method": "GET", "path": "/b", "scope": "s"},
        {"method": "GET", "path": "/a", "scope": "t"},
    ):
        other = parse_routes(table(changed), "t")
        assert routes_digest(other) != routes_digest(base)
    path = tmp_path / "routes.json"
    path.write_text(json.dumps(table({"method": "GET", "path": "/a", "scope": "s"})))
    assert load_routes(path) == base
