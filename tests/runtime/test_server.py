"""dist/server as the ECS task runs it: PID 1 of its own PID namespace, a non-root user, a
minimal root holding only the runtime's glibc and libgcc_s plus the folder app/Dockerfile copies,
configuration from the environment: the runtime role's secret read with the SDK
(DB_SECRET_ARN, moto), TLS verified against the test CA (DB_SSLMODE=verify-full)."""

from __future__ import annotations

import json
import shutil
import subprocess
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from components.routes import Route, load_routes
from local.sandbox import JailedServer, free_port, http
from tests.runtime.readelf import FOREIGN, readelf_needed, readelf_soname
from tests.runtime.services import (
    METRICS,
    OWNER,
    ROOT,
    TEST_CA_IN_ROOT,
    Artifacts,
    Database,
    issue_token,
    server_jail,
)

pytestmark = pytest.mark.postgres
ROUTES: tuple[Route, ...] = load_routes(ROOT / "app" / "routes.json")
DEVICE = "srv-sensor-1"
VALID_BODIES: dict[tuple[str, str], dict[str, Any]] = {
    ("POST", "/devices"): {"id": DEVICE, "name": "Server test sensor"},
    ("POST", "/devices/{device_id}/commands"): {"command": "ping", "payload": {}},
    ("POST", "/devices/{device_id}/tags"): {"key": "site", "value": "lab"},
}


@pytest.fixture(scope="module")
def start_server(
    server_root: Path,
    artifacts: Artifacts,
    server_env: Callable[..., dict[str, str]],
    tmp_path_factory: Any,
) -> Iterator[Callable[..., JailedServer]]:
    """(**env overrides) -> a started server; all are stopped at the end of the module."""
    servers: list[JailedServer] = []

    def start(**overrides: str) -> JailedServer:
        log = tmp_path_factory.mktemp("server-log") / "server.log"
        server = JailedServer(
            server_jail(server_root),
            f"/app/{artifacts.server_binary}",
            server_env(**overrides),
            log,
        )
        servers.append(server)
        return server.start()

    yield start
    for server in servers:
        server.stop()


@pytest.fixture(scope="module")
def server(start_server: Callable[..., JailedServer]) -> JailedServer:
    """One server for the module; its time to the first healthy /healthz is recorded."""
    server = start_server()
    seconds = server.wait_healthy()
    METRICS["server"]["time_to_healthy_ms"] = round(seconds * 1000, 1)
    return server


@pytest.fixture(scope="module")
def token(
    server_root: Path, artifacts: Artifacts, server_env: Callable[..., dict[str, str]]
) -> str:
    return issue_token(server_root, artifacts, server_env(), sorted({r.scope for r in ROUTES}))


def test_server_root_has_no_library_beyond_the_runtime_and_its_bundle(
    server_root: Path, artifacts: Artifacts, policy: Any
) -> None:
    """DT_NEEDED (binutils' readelf) of the server and of whatever it bundles: the runtime's
    documented libraries or the bundle's own; nothing of Debian's libpq5 closure anywhere."""
    assert not (server_root / "usr" / "lib" / "x86_64-linux-gnu").exists()
    bundled = {b["name"] for b in artifacts.manifest["server"].get("bundled", [])}
    lib = server_root / "app" / "lib"
    shipped = sorted(lib.iterdir()) if lib.exists() else []
    assert {p.name for p in shipped} == bundled
    sonames = {readelf_soname(p) for p in shipped}
    for elf in [server_root / "app" / artifacts.server_binary, *shipped]:
        assert readelf_needed(elf) <= set(policy.provided) | sonames, elf
    names = {p.name for p in shipped} | readelf_needed(
        server_root / "app" / artifacts.server_binary
    )
    assert not [n for n in names if n.startswith((*FOREIGN, "libpq"))], sorted(names)


def test_healthz_answers_with_the_database_up(server: JailedServer) -> None:
    status, body = server.request("GET", "/healthz")
    assert status == 200, body


def test_routes_answer_over_http_and_write_the_database(
    server: JailedServer, token: str, database: Database
) -> None:
    auth = {"Authorization": f"Bearer {token}"}
    ordered = sorted(ROUTES, key=lambda r: (r.path != "/devices" or r.method != "POST", r.path))
    for route in ordered:
        path = route.path.replace("{device_id}", DEVICE)
        status, body = server.request(
            route.method, path, VALID_BODIES.get((route.method, route.path)), auth
        )
        assert 200 <= status < 300, (route, status, body)
    [device] = database.rows(f"SELECT owner, name FROM devices WHERE id = '{DEVICE}'")
    assert device == {"owner": OWNER, "name": "Server test sensor"}
    assert database.sql(f"SELECT command FROM commands WHERE device_id = '{DEVICE}'") == "ping"
    assert database.sql(f"SELECT value FROM device_tags WHERE device_id = '{DEVICE}'") == "lab"
    status, body = server.request("GET", f"/devices/{DEVICE}", headers=auth)
    assert json.loads(body)["id"] == DEVICE


def test_server_refuses_bad_requests(server: JailedServer, token: str) -> None:
    auth = {"Authorization": f"Bearer {token}"}
    assert server.request("GET", "/devices")[0] == 401
    assert server.request("GET", "/devices", headers={"Authorization": "Bearer nope"})[0] == 401
    assert server.request("POST", "/devices", b'{"id": ', auth)[0] == 400
    assert server.request("GET", "/devices/no-such-device", headers=auth)[0] == 404
    assert server.request("GET", "/no/such/route", headers=auth)[0] == 404


def test_server_stops_cleanly_on_sigterm(start_server: Callable[..., JailedServer]) -> None:
    server = start_server()
    server.wait_healthy()
    assert server.terminate() == 0, server.log_path.read_text()[-2000:]
    assert "stopped" in server.log_path.read_text()


def test_a_binary_needing_the_hosts_libpq_cannot_start_in_the_server_root(
    server_root: Path,
    artifacts: Artifacts,
    server_env: Callable[..., dict[str, str]],
    tmp_path: Path,
) -> None:
    """Negative control for the server's root: Debian's psql (linked against libpq.so.5) in place
    of the server does not start, so the server's running proves it needs nothing of the host.
    With bundled libraries (``--openssl shared``) the server without lib/ must not start either."""
    psql = Path(
        subprocess.run(["which", "psql"], capture_output=True, text=True, check=True).stdout.strip()
    ).resolve()
    if psql.read_bytes()[:4] != b"\x7fELF":  # Debian's /usr/bin/psql is a Perl wrapper
        psql = max(Path("/usr/lib/postgresql").glob("*/bin/psql"))
    assert "libpq.so.5" in readelf_needed(psql)
    stripped = tmp_path / "root"
    shutil.copytree(server_root, stripped, symlinks=True)
    shutil.copy2(psql, stripped / "app" / artifacts.server_binary)
    proc = server_jail(stripped).run(
        [f"/app/{artifacts.server_binary}", "--version"], env=server_env()
    )
    assert proc.returncode == 127, proc
    assert "libpq.so.5: cannot open shared object file" in proc.stderr, proc.stderr
    if not (server_root / "app" / "lib").exists():
        return
    shutil.copytree(server_root, tmp_path / "nolib", symlinks=True)
    shutil.rmtree(tmp_path / "nolib" / "app" / "lib")
    proc = server_jail(tmp_path / "nolib").run(
        [f"/app/{artifacts.server_binary}", "migrate"], env=server_env()
    )
    assert proc.returncode == 127, proc
    assert "error while loading shared libraries" in proc.stderr


def test_livez_stays_200_and_healthcheck_passes_while_the_database_is_unreachable(
    start_server: Callable[..., JailedServer], server_root: Path, artifacts: Artifacts
) -> None:
    """The container's HEALTHCHECK must not fail because the database is down (ECS would
    replace every task, which does not bring the database back); the load balancer's /healthz
    must (the target leaves the pool)."""
    closed = str(free_port())
    server = start_server(DB_PORT=closed)
    server.wait_healthy(path="/livez")
    status, body = http("GET", f"{server.base_url}/livez", timeout=2)
    assert (status, json.loads(body)) == (200, {"status": "ok"})
    status, body = server.request("GET", "/healthz")
    assert status == 503, body
    check = server_jail(server_root).run(
        [f"/app/{artifacts.server_binary}", "healthcheck"], env={"PORT": str(server.port)}
    )
    assert check.returncode == 0, check.stderr
    server.stop()
    after = server_jail(server_root).run(
        [f"/app/{artifacts.server_binary}", "healthcheck"], env={"PORT": str(server.port)}
    )
    assert after.returncode == 1, after
    assert after.stderr.startswith("healthcheck: 127.0.0.1:"), after.stderr


def test_server_migrate_still_works_for_a_local_run(
    server_root: Path, artifacts: Artifacts, database: Database
) -> None:
    """`server migrate` with DB_USERNAME and DB_PASSWORD (no secret): what a developer runs."""
    name = f"runtime_local_{uuid.uuid4().hex[:8]}"
    admin = ["psql", "-X", "-q", database.admin_url, "-c"]
    subprocess.run([*admin, f'CREATE DATABASE "{name}"'], check=True)
    try:
        env = {
            "PATH": "/usr/bin:/bin",
            "DB_HOST": database.host,
            "DB_PORT": str(database.port),
            "DB_NAME": name,
            "DB_USERNAME": database.user,
            "DB_PASSWORD": "unused: postgres is trusted on 127.0.0.1",
            "DB_SSLMODE": "verify-full",
            "DB_SSLROOTCERT": TEST_CA_IN_ROOT,
        }
        proc = server_jail(server_root).run([f"/app/{artifacts.server_binary}", "migrate"], env=env)
        assert proc.returncode == 0, proc.stderr
        url = database.admin_url.rsplit("/", 1)[0] + f"/{name}"
        tables = subprocess.run(
            [
                "psql",
                "-X",
                "-A",
                "-t",
                url,
                "-c",
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1",
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()
        assert tables == [
            "__diesel_schema_migrations",
            "api_tokens",
            "commands",
            "device_tags",
            "devices",
            "images",
        ]
    finally:
        subprocess.run([*admin, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'], check=False)
