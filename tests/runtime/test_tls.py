"""TLS to PostgreSQL with server verification (DB_SSLMODE=verify-full, DB_SSLROOTCERT).

The test server presents a certificate for 127.0.0.1 and localhost signed by a CA made for the
tests (scripts/postgres.sh). Every process in this suite runs with that CA as DB_SSLROOTCERT; here
the two ways verification must fail are checked: the shipped Amazon RDS bundle (the right file on
AWS, the wrong CA here), a host name the certificate does not list, and a forged CA that carries
the test CA's name but not its key (what a man in the middle would present). Failing means no
answer: the authorizer never Allows, the handler never answers 2xx. libpq is built from source
without GSSAPI (app/Cargo.toml): a GSSAPI-encrypted connection is refused by libpq itself.
"""

from __future__ import annotations

import datetime
import re
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

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
FORGED_CA_IN_ROOT = "/opt/forged-ca.pem"
FORGED_REFUSED = r"port \d+ failed: SSL error: (certificate verify failed|EVP lib)"
# libpq's fe-connect.c when built without GSSAPI (PostgreSQL 12+): the option value is refused
# before any connection is tried.
NO_GSSAPI = 'gssencmode value "require" invalid when GSSAPI support is not compiled in'


def forged_ca(genuine: Path) -> bytes:
    """A self-signed CA with the genuine CA's subject, serial and validity, and a key of its own."""
    real = x509.load_pem_x509_certificate(genuine.read_bytes())
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(real.subject)
        .issuer_name(real.subject)
        .public_key(key.public_key())
        .serial_number(real.serial_number)
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM)


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


@pytest.mark.parametrize("function", ["authorizer", "handler"])
def test_a_forged_ca_with_the_test_cas_name_is_refused(
    function: str,
    postgres_ca: Path,
    lambda_root: Callable[[str], Path],
    start_function: Callable[..., RieFunction],
    database: Database,
) -> None:
    """Same subject and serial as the CA that signed the server's certificate, another key: the
    signature check (not a name match) is what refuses it."""
    forged = forged_ca(postgres_ca)
    assert x509.load_pem_x509_certificate(forged).subject == (
        x509.load_pem_x509_certificate(postgres_ca.read_bytes()).subject
    )
    (lambda_root(function) / FORGED_CA_IN_ROOT.lstrip("/")).write_bytes(forged)
    # OpenSSL's own verdict on the chain, outside the code under test.
    check = subprocess.run(
        [
            "openssl",
            "verify",
            "-CAfile",
            str(lambda_root(function) / FORGED_CA_IN_ROOT.lstrip("/")),
            str(postgres_ca.with_name("server.crt")),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert check.returncode != 0 and "certificate signature failure" in check.stdout + check.stderr
    fn = start_function(function, DB_SSLROOTCERT=FORGED_CA_IN_ROOT)
    if function == "authorizer":
        out = fn.invoke(
            {
                "type": "TOKEN",
                "authorizationToken": f"Bearer {'roa_' + 'a' * 12 + '_' + 'B' * 40}",
                "methodArn": METHOD_ARN,
            }
        )
        assert "Allow" not in out.body.decode(errors="replace"), out.body
    else:
        out = fn.invoke(handler_event())
        status = None if out.is_function_error else int(out.json()["statusCode"])
        assert status is None or status >= 500, out.body
    # OpenSSL 3.0 reports a failed ECDSA signature on the chain as "EVP lib" (psql with Debian's
    # libpq says the same), other versions "certificate verify failed": either is the refusal.
    assert re.search(FORGED_REFUSED, fn.log()), fn.log()[-3000:]


def test_gssapi_encryption_is_not_compiled_into_libpq(
    start_function: Callable[..., RieFunction], database: Database
) -> None:
    """PGGSSENCMODE=require (libpq reads it from the environment) must be refused by libpq:
    Debian's libpq5, the previous closure, has GSSAPI and would try Kerberos instead."""
    out = start_function("migrate", PGGSSENCMODE="require").invoke({})
    assert out.is_function_error, out.body
    assert NO_GSSAPI in out.json()["errorMessage"], out.body
