"""A password rotation under running processes: the same process must keep serving.

Each test starts its own process, serves a request, then the runtime role's password changes in
PostgreSQL and in moto's secret and every session of the role is ended (pg_terminate_backend),
so the pool has to open a new connection. The next request to the *same* process must succeed:
the Lambdas and the server re-read the secret when PostgreSQL refuses the password.

These processes run with ``DB_SSLMODE=require`` (TLS without verification; test_tls.py covers
verification), tokens are written with psql, and the server also gets the static
DB_USERNAME/DB_PASSWORD pair, so this file also runs against the binaries from before this
change: that is how it was checked to fail on the old code, which read the secret once (see
tests/runtime/README.md).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from components.routes import load_routes
from local.sandbox import JailedServer, RieFunction
from tests.runtime.services import (
    OWNER,
    REGION,
    ROOT,
    Artifacts,
    Database,
    Secrets,
    insert_token,
    server_jail,
)

pytestmark = [pytest.mark.rie, pytest.mark.postgres]
TLS = {"DB_SSLMODE": "require"}
SCOPES = sorted({r.scope for r in load_routes(ROOT / "app" / "routes.json")})
METHOD_ARN = f"arn:aws:execute-api:{REGION}:123456789012:abcdef1234/prod/GET/devices"
FAST = 5.0
"""Seconds a request after the rotation may take: well under the pools' timeouts (6 s for a
Lambda, 3 s per wait on the server plus its retries), so the new password is found on the first
refused attempt rather than after waiting the pool out."""


def devices_event(method: str = "GET", body: dict[str, Any] | None = None) -> dict[str, Any]:
    """A REST proxy event for /devices with the authorizer's context (the caller, all scopes)."""
    path = ROOT / "app" / "events" / "handler"
    event = next(
        json.loads(p.read_text())
        for p in sorted(path.glob("*.json"))
        if json.loads(p.read_text()).get("resource") == "/devices"
    )
    event.update(
        httpMethod=method,
        resource="/devices",
        path="/devices",
        pathParameters=None,
        queryStringParameters=None,
        multiValueQueryStringParameters=None,
        body=None if body is None else json.dumps(body),
        isBase64Encoded=False,
    )
    event["requestContext"].update(httpMethod=method, resourcePath="/devices")
    event["requestContext"]["authorizer"] = {"principalId": OWNER, "scopes": " ".join(SCOPES)}
    return event


def status_of(fn: RieFunction, event: dict[str, Any]) -> int:
    result = fn.invoke(event)
    assert not result.is_function_error, f"{result.body!r}\n{fn.log()[-3000:]}"
    return int(result.json()["statusCode"])


def inits(fn: RieFunction) -> int:
    """How many times the emulator started bootstrap (1: the same process throughout)."""
    return fn.log().count("INIT REPORT")


@pytest.fixture
def handler(
    start_function: Callable[..., RieFunction], database: Database
) -> Iterator[RieFunction]:
    fn = start_function("handler", **TLS)
    yield fn
    fn.stop()


def test_the_handler_reconnects_with_the_rotated_password_in_the_same_process(
    handler: RieFunction, database: Database, secrets: Secrets
) -> None:
    assert status_of(handler, devices_event()) == 200
    secrets.rotate_by_hand(database)
    start = time.monotonic()
    created = devices_event("POST", {"id": "rot-handler-1", "name": "after rotation"})
    assert status_of(handler, created) == 201, handler.log()[-4000:]
    elapsed = time.monotonic() - start
    assert elapsed < FAST, f"{elapsed:.1f}s"
    assert database.sql("SELECT name FROM devices WHERE id = 'rot-handler-1'") == "after rotation"
    assert inits(handler) == 1, "the emulator restarted bootstrap"


def test_the_authorizer_keeps_allowing_after_a_rotation(
    start_function: Callable[..., RieFunction], database: Database, secrets: Secrets
) -> None:
    token, _ = insert_token(database, ["devices:read"])
    fn = start_function("authorizer", **TLS)
    event = {"type": "TOKEN", "authorizationToken": f"Bearer {token}", "methodArn": METHOD_ARN}

    def effect() -> str:
        result = fn.invoke(event)
        assert not result.is_function_error, f"{result.body!r}\n{fn.log()[-3000:]}"
        return str(result.json()["policyDocument"]["Statement"][0]["Effect"])

    assert effect() == "Allow"
    secrets.rotate_by_hand(database)
    assert effect() == "Allow"
    assert inits(fn) == 1


def test_the_server_reconnects_with_the_rotated_password_in_the_same_process(
    server_root: Path,
    artifacts: Artifacts,
    server_env: Callable[..., dict[str, str]],
    database: Database,
    secrets: Secrets,
    tmp_path: Path,
) -> None:
    token, _ = insert_token(database, SCOPES)
    # During the switch the task definition may still inject the static pair: DB_SECRET_ARN wins.
    value = secrets.app_value()
    env = server_env(**TLS, DB_USERNAME=value["username"], DB_PASSWORD=value["password"])
    server = JailedServer(
        server_jail(server_root), f"/app/{artifacts.server_binary}", env, tmp_path / "server.log"
    ).start()
    try:
        server.wait_healthy()
        pid = server.pid
        auth = {"Authorization": f"Bearer {token}"}
        assert server.request("GET", "/devices", headers=auth)[0] == 200
        secrets.rotate_by_hand(database)
        start = time.monotonic()
        status, body = server.request("GET", "/devices", headers=auth)
        assert status == 200, (body, server.log_path.read_text()[-3000:])
        assert time.monotonic() - start < FAST
        assert server.request("GET", "/healthz")[0] == 200
        assert server.pid == pid and server.process is not None and server.process.poll() is None
    finally:
        server.stop()


def test_a_rotation_by_the_migrate_function_reaches_a_running_handler(
    handler: RieFunction,
    start_function: Callable[..., RieFunction],
    database: Database,
    secrets: Secrets,
) -> None:
    assert status_of(handler, devices_event()) == 200
    before = secrets.app_value()["password"]
    migrate = start_function("migrate")
    out = migrate.invoke({"rotate": True})
    assert not out.is_function_error, out.body
    assert out.json()["rotated"] is True
    assert secrets.app_value()["password"] != before
    database.terminate(database.role)
    assert status_of(handler, devices_event()) == 200
    assert inits(handler) == 1


def test_a_password_the_database_refuses_is_503_until_migrate_repairs_it(
    handler: RieFunction,
    start_function: Callable[..., RieFunction],
    database: Database,
    secrets: Secrets,
) -> None:
    """Secret and database disagree (someone changed the role's password by hand): requests
    fail as "database unavailable", the process stays up, and the next migrate run notices the
    refused password and rotates; then the same process serves again."""
    assert status_of(handler, devices_event()) == 200
    database.sql(f"ALTER ROLE {database.role} PASSWORD 'changed-by-hand'")
    database.terminate(database.role)
    assert status_of(handler, devices_event()) == 503
    time.sleep(5.5)  # past the re-read rate limit of the refused attempt above
    out = start_function("migrate").invoke({})
    assert not out.is_function_error, out.body
    assert out.json()["rotated"] is True
    assert status_of(handler, devices_event()) == 200
    assert inits(handler) == 1
