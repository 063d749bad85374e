"""The four zips of dist/, exactly as built, under aws-lambda-rie in a minimal root.

Each function runs from its unpacked zip in /var/task of a root holding only what the runtime
policy provides, with Lambda's environment, the runtime role's secret in moto's Secrets Manager
and a fresh PostgreSQL database set up by the real migrate function (tests/runtime/conftest.py),
reached over TLS with DB_SSLMODE=verify-full. Events start from the samples
in app/events/ (the exact shapes AWS sends) with the test's own tokens, ids and digests put in.
Assertions are on the responses and on the database afterwards.
"""

from __future__ import annotations

import copy
import json
import subprocess
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from build.cargo import discover
from components.routes import Route, load_routes
from local.sandbox import (
    SANDBOX_UID,
    Invocation,
    Jail,
    RieFunction,
    build_root,
    free_port,
    install_rie,
)
from local.sandbox import unpack_zip as unpack
from tests.runtime.readelf import FOREIGN, readelf_needed, readelf_soname
from tests.runtime.services import (
    ECR_REPOSITORY,
    OWNER,
    REGION,
    ROOT,
    WITH_DATABASE,
    Artifacts,
    Database,
    Moto,
    insert_token,
    issue_token,
    new_token,
    record_init,
    sample_events,
)

pytestmark = [pytest.mark.rie, pytest.mark.postgres]

ROUTES: tuple[Route, ...] = load_routes(ROOT / "app" / "routes.json")
METHOD_ARN = f"arn:aws:execute-api:{REGION}:123456789012:abcdef1234/prod/GET/devices"
ARN_PREFIX = f"arn:aws:execute-api:{REGION}:123456789012:abcdef1234/prod"


def route_arn(route: Route) -> str:
    """The contract's resource ARN of a route: each {param} becomes *."""
    path = "/".join("*" if s.startswith("{") else s for s in route.segments)
    return f"{ARN_PREFIX}/{route.method}/{path}"


def first_event(function: str, predicate: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
    """A deep copy of the first sample event of ``function`` that ``predicate`` accepts."""
    for name, event in sample_events(function).items():
        if isinstance(event, dict) and predicate(event):
            return copy.deepcopy(event)
        del name
    pytest.fail(f"app/events/{function}/ has no sample event of the expected shape")


@pytest.fixture(scope="module")
def running(
    start_function: Callable[..., RieFunction], artifacts: Artifacts, database: Database
) -> Iterator[Callable[[str], RieFunction]]:
    """function -> its emulator, started once per module; the first invoke's init is recorded."""
    functions: dict[str, RieFunction] = {}

    def get(function: str) -> RieFunction:
        if function not in functions:
            functions[function] = start_function(function)
        return functions[function]

    yield get
    for name, fn in functions.items():
        record_init(name, fn, artifacts)


def invoke_ok(fn: RieFunction, event: Any) -> Any:
    result = fn.invoke(event)
    assert result.status == 200, result.body
    assert not result.is_function_error, f"{result.body!r}\n{fn.log()[-3000:]}"
    return result.json()


# ---------------------------------------------------------------------------------------------
# authorizer


def authorizer_event(token_header: str | None) -> dict[str, Any]:
    event = first_event("authorizer", lambda e: e.get("type") == "TOKEN")
    event["methodArn"] = METHOD_ARN
    if token_header is None:
        event.pop("authorizationToken", None)
    else:
        event["authorizationToken"] = token_header
    return event


def test_authorizer_allows_a_valid_token_for_exactly_its_routes(
    running: Callable[[str], RieFunction],
    server_root: Path,
    artifacts: Artifacts,
    server_env: Callable[..., dict[str, str]],
) -> None:
    fn = running("authorizer")
    scopes = sorted({r.scope for r in ROUTES})
    all_scopes = issue_token(server_root, artifacts, server_env(), scopes)
    out = invoke_ok(fn, authorizer_event(f"Bearer {all_scopes}"))
    assert out["principalId"] == OWNER
    [statement] = out["policyDocument"]["Statement"]
    assert statement["Effect"] == "Allow"
    assert statement["Action"] == "execute-api:Invoke"
    assert sorted(statement["Resource"]) == sorted(route_arn(r) for r in ROUTES)
    assert set(out["context"]["scopes"].split()) == set(scopes)

    # A narrower token: Allow for its routes, Deny for what their `*` would also admit
    # (tests/runtime/test_authorizer_policy.py evaluates every scope combination).
    read_only = issue_token(server_root, artifacts, server_env(), ["devices:read"])
    out = invoke_ok(fn, authorizer_event(f"Bearer {read_only}"))
    allow, deny = out["policyDocument"]["Statement"]
    granted = [r for r in ROUTES if r.scope == "devices:read"]
    assert allow["Effect"] == "Allow"
    assert sorted(allow["Resource"]) == sorted(route_arn(r) for r in granted)
    assert len(granted) < len(ROUTES)
    shadowed = [r for r in ROUTES if r.method == "GET" and r.path.endswith("/commands")]
    assert deny["Effect"] == "Deny"
    assert deny["Resource"] == [route_arn(r) for r in shadowed]


@pytest.mark.parametrize("case", ["revoked", "expired", "unknown"])
def test_authorizer_denies_revoked_expired_and_unknown_tokens(
    case: str, running: Callable[[str], RieFunction], database: Database
) -> None:
    scopes = ["devices:read", "devices:write"]
    if case == "revoked":
        token, _ = insert_token(database, scopes, revoked="now() - interval '1 minute'")
    elif case == "expired":
        token, _ = insert_token(database, scopes, expires="now() - interval '1 hour'")
    else:
        token, _, _ = new_token()
    out = invoke_ok(running("authorizer"), authorizer_event(f"Bearer {token}"))
    statements = out["policyDocument"]["Statement"]
    assert statements, out
    assert all(s["Effect"] == "Deny" for s in statements), out
    assert "Allow" not in json.dumps(out)


@pytest.mark.parametrize(
    "header", [None, "", "Bearer", "Basic dXNlcjpwYXNz", "Bearer not-a-token", "roa_x_y"]
)
def test_authorizer_answers_unauthorized_to_a_missing_or_malformed_header(
    header: str | None, running: Callable[[str], RieFunction]
) -> None:
    result = running("authorizer").invoke(authorizer_event(header))
    assert result.is_function_error, result.body
    assert result.json()["errorMessage"] == "Unauthorized"


def test_authorizer_never_allows_when_the_database_is_down(
    start_function: Callable[..., RieFunction],
    server_root: Path,
    artifacts: Artifacts,
    server_env: Callable[..., dict[str, str]],
) -> None:
    token = issue_token(server_root, artifacts, server_env(), ["devices:read"])
    fn = start_function("authorizer", DB_PORT=str(free_port()))  # nothing listens there
    result = fn.invoke(authorizer_event(f"Bearer {token}"))
    assert "Allow" not in result.body.decode(errors="replace"), result.body
    assert result.is_function_error, result.body
    # and it stays that way on the next invocation
    again = fn.invoke(authorizer_event(f"Bearer {token}"))
    assert "Allow" not in again.body.decode(errors="replace")


# ---------------------------------------------------------------------------------------------
# handler

DEVICE = "rt-sensor-1"
VALID_BODIES: dict[tuple[str, str], dict[str, Any]] = {
    ("POST", "/devices"): {"id": DEVICE, "name": "Runtime test sensor"},
    ("POST", "/devices/{device_id}/commands"): {"command": "reboot", "payload": {"delay_s": 5}},
    ("POST", "/devices/{device_id}/tags"): {"key": "env", "value": "runtime"},
}


def proxy_event(
    method: str,
    resource: str,
    *,
    params: dict[str, str] | None = None,
    body: str | None = None,
    scopes: list[str] | None = None,
) -> dict[str, Any]:
    """A REST proxy event built on a sample from app/events/handler/."""
    event = first_event("handler", lambda e: "httpMethod" in e and "resource" in e)
    params = params or {}
    path = resource
    for key, value in params.items():
        path = path.replace("{" + key + "}", value)
    event.update(
        httpMethod=method,
        resource=resource,
        path=path,
        pathParameters=params or None,
        queryStringParameters=None,
        multiValueQueryStringParameters=None,
        body=body,
        isBase64Encoded=False,
    )
    context = event.setdefault("requestContext", {})
    context.update(httpMethod=method, resourcePath=resource, path=f"/prod{path}")
    context["authorizer"] = {
        "principalId": OWNER,
        "scopes": " ".join(scopes if scopes is not None else sorted({r.scope for r in ROUTES})),
        "integrationLatency": 3,
    }
    return event


def call(fn: RieFunction, event: dict[str, Any]) -> tuple[int, Any]:
    out = invoke_ok(fn, event)
    body = out.get("body")
    return int(out["statusCode"]), json.loads(body) if body else None


def test_handler_serves_every_route_and_writes_the_database(
    running: Callable[[str], RieFunction], database: Database
) -> None:
    fn = running("handler")
    served: set[tuple[str, str]] = set()
    # Creating the device first: every other route needs it.
    ordered = sorted(ROUTES, key=lambda r: (r.path != "/devices" or r.method != "POST", r.path))
    for route in ordered:
        params = {"device_id": DEVICE} if "{device_id}" in route.path else None
        body = VALID_BODIES.get((route.method, route.path))
        status, doc = call(
            fn,
            proxy_event(
                route.method,
                route.path,
                params=params,
                body=json.dumps(body) if body is not None else None,
            ),
        )
        assert 200 <= status < 300, (route, status, doc)
        served.add((route.method, route.path))
    assert served == {(r.method, r.path) for r in ROUTES}

    [device] = database.rows(f"SELECT id, owner, name FROM devices WHERE id = '{DEVICE}'")
    assert device == {"id": DEVICE, "owner": OWNER, "name": "Runtime test sensor"}
    [command] = database.rows(f"SELECT command, payload FROM commands WHERE device_id = '{DEVICE}'")
    assert command == {"command": "reboot", "payload": {"delay_s": 5}}
    [tag] = database.rows(f"SELECT key, value FROM device_tags WHERE device_id = '{DEVICE}'")
    assert tag == {"key": "env", "value": "runtime"}


def test_handler_rejects_bad_json_unknown_ids_and_unknown_routes(
    running: Callable[[str], RieFunction], database: Database
) -> None:
    fn = running("handler")
    before = database.sql("SELECT count(*) FROM devices")
    status, doc = call(fn, proxy_event("POST", "/devices", body='{"id": "x", "name": '))
    assert status == 400, doc
    assert "JSON" in doc["error"]["message"]
    assert database.sql("SELECT count(*) FROM devices") == before

    status, doc = call(
        fn, proxy_event("GET", "/devices/{device_id}", params={"device_id": "nope-404"})
    )
    assert status == 404, doc

    status, doc = call(fn, proxy_event("GET", "/no/such/route"))
    assert status == 404, doc

    status, doc = call(fn, proxy_event("GET", "/devices", scopes=["images:read"]))
    assert status == 403, doc


def test_handler_reports_a_malformed_event_and_keeps_serving(
    running: Callable[[str], RieFunction],
) -> None:
    fn = running("handler")
    result = fn.invoke({"not": "a proxy event", "httpMethod": 42})
    assert result.is_function_error, result.body
    status, _ = call(fn, proxy_event("GET", "/devices"))
    assert status == 200


def test_handler_answers_every_sample_event_without_crashing(
    running: Callable[[str], RieFunction],
) -> None:
    """The samples in app/events/handler/ as they are: an answer (never a 5xx) or an error."""
    fn = running("handler")
    for name, event in sample_events("handler").items():
        result = fn.invoke(event)
        assert result.status == 200, (name, result.body)
        doc = result.json()
        if not result.is_function_error:
            assert int(doc["statusCode"]) < 500, (name, doc)
    assert fn.alive()


# ---------------------------------------------------------------------------------------------
# event


def push_image(moto: Moto, tag: str, config_size: int) -> str:
    """Push an image manifest to moto's ECR; returns its digest."""
    return moto.push_image(ECR_REPOSITORY, tag, config_size)


def ecr_event(digest: str, tag: str) -> dict[str, Any]:
    event = first_event("event", lambda e: e.get("detail-type") == "ECR Image Action")
    event["region"] = REGION
    event["detail"].update(
        {
            "action-type": "PUSH",
            "result": "SUCCESS",
            "repository-name": ECR_REPOSITORY,
            "image-digest": digest,
            "image-tag": tag,
        }
    )
    return event


def test_event_records_a_pushed_image_with_its_size_from_ecr(
    running: Callable[[str], RieFunction], moto: Moto, database: Database
) -> None:
    digest = push_image(moto, "v1.2.3", 7023)
    [detail] = moto.client("ecr").describe_images(
        repositoryName=ECR_REPOSITORY, imageIds=[{"imageDigest": digest}]
    )["imageDetails"]
    out = invoke_ok(running("event"), ecr_event(digest, "v1.2.3"))
    assert out["outcome"] == "recorded", out
    assert out["image"]["digest"] == digest
    assert out["image"]["size_bytes"] == detail["imageSizeInBytes"]
    [row] = database.rows(
        f"SELECT repository, tag, size_bytes, pushed_at IS NOT NULL AS has_push_time "
        f"FROM images WHERE digest = '{digest}'"
    )
    assert row == {
        "repository": ECR_REPOSITORY,
        "tag": "v1.2.3",
        "size_bytes": detail["imageSizeInBytes"],
        "has_push_time": True,
    }


def test_event_reports_a_malformed_event_and_the_next_invocation_works(
    running: Callable[[str], RieFunction], moto: Moto, database: Database
) -> None:
    fn = running("event")
    malformed = ecr_event("sha256:" + "0" * 64, "bad")
    malformed["detail"]["action-type"] = 42
    result = fn.invoke(malformed)
    assert result.is_function_error, result.body
    assert fn.invoke(b"[1, 2, 3]").is_function_error

    digest = push_image(moto, "v2.0.0", 4242)
    out = invoke_ok(fn, ecr_event(digest, "v2.0.0"))
    assert out["outcome"] == "recorded"
    assert database.sql(f"SELECT size_bytes FROM images WHERE digest = '{digest}'") == "4242"


# ---------------------------------------------------------------------------------------------
# timer


def test_timer_purges_expired_tokens_and_returns_the_counts(
    running: Callable[[str], RieFunction], database: Database
) -> None:
    scopes = ["devices:read"]
    _, old_expired = insert_token(database, scopes, expires="now() - interval '40 days'")
    _, old_revoked = insert_token(database, scopes, revoked="now() - interval '31 days'")
    _, recent = insert_token(database, scopes, expires="now() - interval '1 day'")
    _, live = insert_token(database, scopes, expires="now() + interval '1 day'")
    database.sql(
        f"INSERT INTO devices (id, owner, name) VALUES ('rt-timer', '{OWNER}', 'Timer device') "
        "ON CONFLICT DO NOTHING"
    )
    database.sql(
        "INSERT INTO commands (device_id, command, payload, issued_by, created_at) VALUES "
        f"('rt-timer', 'old', '{{}}', '{OWNER}', now() - interval '100 days'), "
        f"('rt-timer', 'new', '{{}}', '{OWNER}', now())"
    )
    due_tokens = int(
        database.sql(
            "SELECT count(*) FROM api_tokens WHERE expires_at < now() - interval '30 days' "
            "OR revoked_at < now() - interval '30 days'"
        )
    )
    due_commands = int(
        database.sql("SELECT count(*) FROM commands WHERE created_at < now() - interval '90 days'")
    )
    assert due_tokens >= 2 and due_commands >= 1

    event = first_event("timer", lambda e: e.get("detail-type") == "Scheduled Event")
    out = invoke_ok(running("timer"), event)
    assert out["tokens_purged"] == due_tokens
    assert out["commands_purged"] == due_commands

    left = {r["id"] for r in database.rows("SELECT id FROM api_tokens")}
    assert old_expired not in left and old_revoked not in left
    assert {recent, live} <= left
    commands = [
        r["command"]
        for r in database.rows("SELECT command FROM commands WHERE device_id = 'rt-timer'")
    ]
    assert commands == ["new"]

    # Nothing left to purge: a second run reports zeros.
    again = invoke_ok(running("timer"), event)
    assert (again["tokens_purged"], again["commands_purged"]) == (0, 0)


def test_timer_refuses_an_event_that_is_not_a_schedule(
    running: Callable[[str], RieFunction],
) -> None:
    event = first_event("timer", lambda e: e.get("detail-type") == "Scheduled Event")
    event["detail-type"] = "ECR Image Action"
    assert running("timer").invoke(event).is_function_error


@pytest.mark.parametrize("function", ["handler", "timer"])
def test_logs_are_plain_text_as_cloudwatch_stores_them(
    function: str, running: Callable[[str], RieFunction]
) -> None:
    """CloudWatch Logs keeps a function's output as bytes: ANSI colour codes (ESC [) would show
    up in every log line and break Logs Insights' parsing. The functions log plain text, and
    their own lines (not only the emulator's) are there."""
    fn = running(function)
    fn.invoke(sample_events(function)["wrong-shape"])  # a malformed event: logged as an error
    runtime_lines = [line for line in fn.log().splitlines() if "(rapid)" not in line]
    assert any("INFO" in line or "WARN" in line or "ERROR" in line for line in runtime_lines)
    assert "\x1b[" not in fn.log(), [line for line in runtime_lines if "\x1b[" in line][:3]


# ---------------------------------------------------------------------------------------------
# Negative control


@pytest.mark.parametrize("function", WITH_DATABASE)
def test_bootstrap_needs_only_the_runtime_and_its_own_bundle(
    function: str,
    artifacts: Artifacts,
    policy: Any,
    rie_binary: Path,
    function_env: Callable[..., dict[str, str]],
    tmp_path: Path,
) -> None:
    """Every DT_NEEDED of every ELF file in the zip is a library the runtime documents (glibc,
    libgcc_s) or one shipped in the zip's lib/; none of Debian's libpq5 closure is anywhere.
    When a zip bundles libraries (``--openssl shared``), the same zip without lib/ must not start:
    the root hides the host's (the harness proves that for libpq itself)."""
    unpacked = tmp_path / "zip"
    names = unpack(artifacts.zip(function), unpacked)
    elves = [unpacked / n for n in names if (unpacked / n).read_bytes()[:4] == b"\x7fELF"]
    shipped = {readelf_soname(p) for p in elves if p.name != "bootstrap"}
    for elf in elves:
        assert readelf_needed(elf) <= set(policy.provided) | shipped, elf
    everything = set(names) | {n for p in elves for n in readelf_needed(p)}
    assert not [n for n in everything if Path(n).name.startswith(FOREIGN)], sorted(everything)
    assert not [n for n in everything if Path(n).name.startswith("libpq")], sorted(everything)
    if not shipped:
        assert names == ["bootstrap", "certs/rds-ca-bundle.pem"], names
        return
    stripped = tmp_path / f"{function}-nolib.zip"
    with zipfile.ZipFile(artifacts.zip(function)) as src, zipfile.ZipFile(stripped, "w") as dst:
        for info in src.infolist():
            if not info.filename.startswith("lib/"):
                dst.writestr(info, src.read(info))
    root = tmp_path / "root"
    build_root(root, policy, arch=artifacts.manifest.get("architecture", "x86_64"))
    install_rie(rie_binary, root)
    assert unpack(stripped, root / "var" / "task") == ["bootstrap", "certs/rds-ca-bundle.pem"]
    with RieFunction(
        Jail(root, SANDBOX_UID, SANDBOX_UID), function_env(function), tmp_path / "rie.log"
    ) as fn:
        result: Invocation = fn.invoke({})
        log = fn.log()
    assert result.status != 200 or result.is_function_error, result.body
    assert "error while loading shared libraries" in log, log[-2000:]


LIBPQ_VERSION_C = r"""
#include <stdio.h>
int PQlibVersion(void);
int main(void) { printf("%d\n", PQlibVersion()); return 0; }
"""


@pytest.fixture(scope="module")
def compiled_libpq_version(gcc: str, tmp_path_factory: pytest.TempPathFactory) -> str:
    """PQlibVersion() of the libpq.a cargo built (pq-src's output), called by a C program linked
    against it, as the number itself."""
    target = discover(ROOT / "app").target_dir
    archives = sorted(
        target.glob("*/release/build/pq-src-*/out/libpq.a"), key=lambda p: p.stat().st_mtime
    )
    if not archives:
        pytest.fail(f"no libpq.a built by pq-src under {target}: run `make build`")
    work = tmp_path_factory.mktemp("libpq-version")
    (work / "v.c").write_text(LIBPQ_VERSION_C)
    subprocess.run(
        [
            gcc,
            "-o",
            str(work / "v"),
            str(work / "v.c"),
            str(archives[-1]),
            "-lssl",
            "-lcrypto",
            "-lm",
        ],
        check=True,
        capture_output=True,
    )
    run = subprocess.run([str(work / "v")], capture_output=True, text=True, check=True)
    return run.stdout.strip()


@pytest.mark.parametrize("function", WITH_DATABASE)
def test_the_manifest_names_the_libraries_linked_in_with_their_versions(
    function: str, artifacts: Artifacts, compiled_libpq_version: str
) -> None:
    """The bill of materials against the truths it claims: libpq's version is what the compiled
    library reports, OpenSSL's is libssl-dev's upstream version (dpkg-query)."""
    record = artifacts.manifest["functions"][function]
    static = {e["name"]: e for e in record.get("static", [])}
    bundled = {e["soname"] for e in record.get("bundled", [])}
    major, minor = (int(x) for x in static["libpq"]["version"].split("."))
    # PostgreSQL documents major * 10000 + minor (18.6 -> 180006): libpq-misc.html, PQlibVersion.
    # pq-src 0.3.14 builds PG_VERSION_NUM in the pre-10 layout instead (18.6 -> 180600, its
    # build.rs); either way the number must be the recorded version's.
    documented, pq_src_layout = major * 10000 + minor, major * 10000 + minor * 100
    assert int(compiled_libpq_version) in {documented, pq_src_layout}, (
        static,
        compiled_libpq_version,
    )
    assert static["libpq"]["origin"].startswith("crates.io pq-src "), static
    if "libssl.so.3" in bundled:  # --openssl shared: bundled, so not linked in
        assert "openssl" not in static, static
        return
    debian = subprocess.run(
        ["dpkg-query", "-W", "-f=${Version}", "libssl-dev"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert static["openssl"]["version"] == debian.split("-", 1)[0], (static, debian)
    assert static["openssl"]["origin"] == f"debian libssl-dev {debian}", static
