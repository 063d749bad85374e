"""TLS to PostgreSQL with server verification (DB_SSLMODE=verify-full, DB_SSLROOTCERT).

The test server presents a certificate for 127.0.0.1 and localhost signed by a CA made for the
tests (scripts/postgres.sh). Every process in this suite runs with that CA as DB_SSLROOTCERT; here
the two ways verification must fail are checked: the shipped Amazon RDS bundle (the right file on
AWS, the wrong CA here) and a host name the certificate does not list. Failing means no answer:
the authorizer never Allows, the handler never answers 2xx.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography import x509

from local.sandbox import UNLISTED_HOST, JailedServer, RieFunction
from tests.runtime.services import (
    FUNCTIONS,
    OWNER,
    RDS_BUNDLE_IN_TASK,
    REGION,
    ROOT,
    Artifacts,
    Database,
    issue_token,
    server_jail,
)

pytestmark = [pytest.mark.rie, pytest.mark.postgres]
COMMITTED = (ROOT / "build" / "certs" / "rds-ca-bundle.pem").read_bytes()
METHOD_ARN = f"arn:aws:execute-api:{REGION}:123456789012:abcdef1234/prod/GET/devices"
WRONG_CA = "certificate verify failed"
WRONG_NAME = f'does not match host name "{UNLISTED_HOST}"'


def handler_event() -> dict[str, object]:
    return {
        "resource": "/devices",
        "path": "/devices",
        "httpMethod": "GET",
        "headers": {},
        "requestContext": {
            "resourcePath": "/devices",
            "httpMethod": "GET",
            "authorizer": {"principalId": OWNER, "scopes": "devices:read"},
        },
        "body": None,
        "isBase64Encoded": False,
    }


@pytest.mark.parametrize("function", FUNCTIONS)
def test_every_zip_ships_the_rds_bundle_at_var_task_certs(
    function: str, lambda_root: Callable[[str], Path]
) -> None:
    shipped = lambda_root(function) / RDS_BUNDLE_IN_TASK.lstrip("/")
    assert shipped.read_bytes() == COMMITTED
    assert shipped.stat().st_mode & 0o777 == 0o644
    assert len(x509.load_pem_x509_certificates(shipped.read_bytes())) == 115


def test_the_server_image_ships_the_rds_bundle_at_app_certs(server_root: Path) -> None:
    shipped = server_root / "app" / "certs" / "rds-ca-bundle.pem"
    assert shipped.read_bytes() == COMMITTED
    assert shipped.stat().st_mode & 0o777 == 0o644


def test_verify_full_with_the_test_ca_connects_encrypted(
    start_function: Callable[..., RieFunction],
    server_root: Path,
    artifacts: Artifacts,
    server_env: Callable[..., dict[str, str]],
    database: Database,
) -> None:
    token = issue_token(server_root, artifacts, server_env(), ["devices:read"])
    fn = start_function("authorizer")  # the suite's default: verify-full, the test CA
    out = fn.invoke(
        {"type": "TOKEN", "authorizationToken": f"Bearer {token}", "methodArn": METHOD_ARN}
    )
    assert out.json()["policyDocument"]["Statement"][0]["Effect"] == "Allow", out.body
    # The pool keeps its connection: PostgreSQL says it is TLS.
    sessions = database.rows(
        "SELECT s.ssl FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) "
        f"WHERE a.usename = '{database.role}' AND a.application_name = 'fleet'"
    )
    assert sessions and all(row["ssl"] for row in sessions), sessions


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"DB_SSLROOTCERT": RDS_BUNDLE_IN_TASK}, WRONG_CA),
        ({"DB_HOST": UNLISTED_HOST}, WRONG_NAME),
    ],
    ids=["rds-bundle-is-the-wrong-ca", "host-name-not-in-certificate"],
)
def test_the_authorizer_never_allows_without_a_verified_server(
    overrides: dict[str, str],
    expected: str,
    start_function: Callable[..., RieFunction],
    server_root: Path,
    artifacts: Artifacts,
    server_env: Callable[..., dict[str, str]],
) -> None:
    token = issue_token(server_root, artifacts, server_env(), ["devices:read"])
    fn = start_function("authorizer", **overrides)
    out = fn.invoke(
        {"type": "TOKEN", "authorizationToken": f"Bearer {token}", "methodArn": METHOD_ARN}
    )
    assert "Allow" not in out.body.decode(errors="replace"), out.body
    assert out.is_function_error, out.body
    assert expected in fn.log(), fn.log()[-3000:]


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"DB_SSLROOTCERT": RDS_BUNDLE_IN_TASK}, WRONG_CA),
        ({"DB_HOST": UNLISTED_HOST}, WRONG_NAME),
    ],
    ids=["rds-bundle-is-the-wrong-ca", "host-name-not-in-certificate"],
)
def test_the_handler_never_answers_2xx_without_a_verified_server(
    overrides: dict[str, str],
    expected: str,
    start_function: Callable[..., RieFunction],
    database: Database,
) -> None:
    fn = start_function("handler", **overrides)
    out = fn.invoke(handler_event())
    status = None if out.is_function_error else int(out.json()["statusCode"])
    assert status is None or status >= 500, out.body
    assert expected in fn.log(), fn.log()[-3000:]


def test_the_migrate_function_refuses_an_unverified_server(
    start_function: Callable[..., RieFunction], database: Database
) -> None:
    out = start_function("migrate", DB_SSLROOTCERT=RDS_BUNDLE_IN_TASK).invoke({})
    assert out.is_function_error, out.body
    message = out.json()["errorMessage"]
    assert message.startswith("connecting to "), message
    assert WRONG_CA in message, message


def test_the_server_is_live_but_not_healthy_without_a_verified_server(
    server_root: Path,
    artifacts: Artifacts,
    server_env: Callable[..., dict[str, str]],
    tmp_path: Path,
) -> None:
    env = server_env(DB_SSLROOTCERT="/app/certs/rds-ca-bundle.pem")
    server = JailedServer(
        server_jail(server_root), f"/app/{artifacts.server_binary}", env, tmp_path / "server.log"
    ).start()
    try:
        server.wait_healthy(path="/livez")
        assert server.request("GET", "/healthz")[0] == 503
        assert WRONG_CA in server.log_path.read_text()
    finally:
        server.stop()
