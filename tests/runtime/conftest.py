"""Fixtures of the runtime tests: artifacts, minimal roots, the emulator, PostgreSQL and moto.

Session-scoped: the artifacts of ``dist/`` (built once with ``python -m build all`` when the
manifest is missing), one moto server, one fresh PostgreSQL database migrated by the real
``server migrate``, and the cold-start metrics written to ``dist/runtime-metrics.json``.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import boto3
import pytest

from build.policy import Policy, load_policy
from tests.runtime.harness import (
    APP_UID,
    SANDBOX_UID,
    HarnessError,
    Jail,
    RieFunction,
    build_root,
    copy_tree,
    free_port,
    install_rie,
    lambda_environment,
    unpack_zip,
    wait_for_port,
)

ROOT = Path(__file__).resolve().parents[2]
DIST = ROOT / "dist"
EVENTS = ROOT / "app" / "events"
HERE = Path(__file__).resolve().parent
REGION = "eu-west-1"
ECR_REPOSITORY = "rust-on-aws-server"
FUNCTIONS = ("authorizer", "handler", "event", "timer")
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
METRICS: dict[str, Any] = {"functions": {}, "server": {}}
"""Cold-start figures collected by the tests; written to dist/runtime-metrics.json at the end."""


def _fail_or_skip(message: str) -> None:
    """Missing prerequisites fail in CI (CI=true) and skip with the reason elsewhere."""
    if IN_CI:
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


# ---------------------------------------------------------------------------------------------
# Tools


def _rie_path() -> Path:
    if os.environ.get("AWS_LAMBDA_RIE"):
        return Path(os.environ["AWS_LAMBDA_RIE"])
    gopath = ""
    if shutil.which("go"):
        gopath = subprocess.run(
            ["go", "env", "GOPATH"], capture_output=True, text=True, check=False
        ).stdout.strip()
    return Path(gopath or Path.home() / "go") / "bin" / "aws-lambda-rie"


@pytest.fixture(scope="session")
def rie_binary() -> Path:
    """The emulator `make setup` installs (override with AWS_LAMBDA_RIE)."""
    path = _rie_path()
    if not path.is_file():
        _fail_or_skip(f"aws-lambda-rie not found at {path}: run `make setup`")
    return path


@pytest.fixture(scope="session")
def jail_tools() -> None:
    if os.geteuid() != 0:
        _fail_or_skip("the minimal root needs root (mount and PID namespaces, chroot)")


@pytest.fixture(scope="session")
def gcc() -> str:
    path = shutil.which("gcc")
    if path is None:
        _fail_or_skip("gcc not found: the harness's own fixture runtime is built from C")
    return str(path)


# ---------------------------------------------------------------------------------------------
# Artifacts


@dataclass(frozen=True)
class Artifacts:
    """dist/: the manifest and where each artifact lives."""

    dist: Path
    manifest: dict[str, Any]

    def zip(self, function: str) -> Path:
        return self.dist / self.manifest["functions"][function]["zip"]

    @property
    def server_dir(self) -> Path:
        return self.dist / self.manifest["server"]["dir"]

    @property
    def server_binary(self) -> str:
        """The binary's path relative to the server folder."""
        server = self.manifest["server"]
        return str(Path(server["binary"]).relative_to(server["dir"]))


def check_manifest(dist: Path) -> dict[str, Any]:
    """Read dist/manifest.json; every way it can be unusable is one line naming `make build`."""
    path = dist / "manifest.json"
    try:
        manifest = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise HarnessError(f"{path} is missing or unreadable ({exc}): run `make build`") from None
    functions = manifest.get("functions") or {}
    for name in FUNCTIONS:
        entry = functions.get(name)
        if not isinstance(entry, dict) or "zip" not in entry:
            raise HarnessError(f"{path} has no function {name!r}: run `make build`")
        archive = dist / entry["zip"]
        if not archive.is_file():
            raise HarnessError(f"{archive} listed in {path} does not exist: run `make build`")
        digest = hashlib.sha256(archive.read_bytes()).hexdigest()
        if digest != entry.get("sha256"):
            raise HarnessError(
                f"{archive.name} has sha256 {digest[:12]}..., the manifest says "
                f"{str(entry.get('sha256'))[:12]}...: the build is stale, run `make build`"
            )
    server = manifest.get("server") or {}
    if not (dist / str(server.get("binary", "-"))).is_file():
        raise HarnessError(f"{path} names no server binary that exists: run `make build`")
    return dict(manifest)


@pytest.fixture(scope="session")
def artifacts() -> Artifacts:
    """dist/ as `make build` leaves it; built here once when the manifest is missing."""
    if not (DIST / "manifest.json").is_file():
        proc = subprocess.run(
            [sys.executable, "-m", "build", "all"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=False,
        )
        if proc.returncode != 0:
            pytest.fail(
                f"dist/manifest.json is missing and `python -m build all` failed "
                f"(exit {proc.returncode}): run `make build` to see why\n{proc.stderr[-3000:]}",
                pytrace=False,
            )
    try:
        return Artifacts(DIST, check_manifest(DIST))
    except HarnessError as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.fixture(scope="session")
def policy(artifacts: Artifacts) -> Policy:
    return load_policy(artifacts.manifest.get("runtime", "provided.al2023"))


@pytest.fixture(scope="session")
def al2023() -> Policy:
    """The default runtime's policy, for the harness's self-tests (no dist/ needed)."""
    return load_policy("provided.al2023")


def sample_events(function: str) -> dict[str, Any]:
    """app/events/<function>/*.json by case name."""
    folder = EVENTS / function
    events = {p.stem: json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))}
    if not events:
        pytest.fail(f"no sample events in {folder}: app/events/ must hold them", pytrace=False)
    return events


# ---------------------------------------------------------------------------------------------
# Services


@dataclass(frozen=True)
class Moto:
    endpoint: str

    def client(self, service: str) -> Any:
        return boto3.client(
            service,
            region_name=REGION,
            endpoint_url=self.endpoint,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )


@pytest.fixture(scope="session")
def moto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Moto]:
    """moto's server on a free 127.0.0.1 port for the whole session."""
    binary = Path(sys.executable).parent / "moto_server"
    if not binary.is_file():
        _fail_or_skip(f"{binary} not found: run `make setup` (moto[server] is pinned)")
    port = free_port()
    log = tmp_path_factory.mktemp("moto") / "moto.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [str(binary), "-H", "127.0.0.1", "-p", str(port)], stdout=out, stderr=subprocess.STDOUT
        )
    try:
        wait_for_port(port, timeout=60, alive=lambda: proc.poll() is None)
        yield Moto(f"http://127.0.0.1:{port}")
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@dataclass(frozen=True)
class Database:
    """A fresh PostgreSQL database of the test server, reached with psql on the host."""

    host: str
    port: int
    name: str
    user: str
    admin_url: str

    @property
    def url(self) -> str:
        return f"postgres://{self.user}@{self.host}:{self.port}/{self.name}"

    def sql(self, statement: str) -> str:
        proc = subprocess.run(
            ["psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", self.url, "-c", statement],
            capture_output=True,
            text=True,
            check=False,
        )
        if proc.returncode != 0:
            raise AssertionError(f"psql failed on {statement!r}: {proc.stderr.strip()}")
        return proc.stdout.strip()

    def rows(self, query: str) -> list[dict[str, Any]]:
        """``query``'s rows as dicts (through json_agg)."""
        out = self.sql(f"SELECT coalesce(json_agg(q), '[]'::json) FROM ({query}) q")
        return list(json.loads(out))


def _admin_url() -> str:
    return os.environ.get("TEST_DATABASE_URL", "postgres://postgres@127.0.0.1:55432/postgres")


@pytest.fixture(scope="session")
def postgres_admin() -> str:
    url = _admin_url()
    if shutil.which("psql") is None:
        _fail_or_skip("psql not found: install postgresql-client")
    probe = subprocess.run(
        ["psql", "-X", "-A", "-t", url, "-c", "SELECT 1"],
        capture_output=True,
        text=True,
        check=False,
    )
    if probe.returncode != 0:
        _fail_or_skip(
            f"the test PostgreSQL at {url} does not answer ({probe.stderr.strip()}): run "
            "`scripts/postgres.sh start` (make test does)"
        )
    return url


@pytest.fixture(scope="session")
def database(
    postgres_admin: str,
    server_root: Path,
    artifacts: Artifacts,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Database]:
    """A fresh database, its schema applied by the real `server migrate` in a minimal root."""
    parts = urlsplit(postgres_admin)
    db = Database(
        host=parts.hostname or "127.0.0.1",
        port=parts.port or 5432,
        name=f"runtime_{uuid.uuid4().hex[:10]}",
        user=parts.username or "postgres",
        admin_url=postgres_admin,
    )
    subprocess.run(
        ["psql", "-X", "-q", postgres_admin, "-c", f'CREATE DATABASE "{db.name}"'], check=True
    )
    try:
        proc = server_jail(server_root).run(
            [f"/app/{artifacts.server_binary}", "migrate"], env=server_env(db)
        )
        if proc.returncode != 0:
            pytest.fail(
                f"`server migrate` in the minimal root failed (exit {proc.returncode}):\n"
                f"{proc.stdout[-2000:]}{proc.stderr[-2000:]}",
                pytrace=False,
            )
        yield db
    finally:
        subprocess.run(
            [
                "psql",
                "-X",
                "-q",
                postgres_admin,
                "-c",
                f'DROP DATABASE IF EXISTS "{db.name}" WITH (FORCE)',
            ],
            check=False,
            capture_output=True,
        )


@pytest.fixture(scope="session")
def db_secret(moto: Moto, database: Database) -> str:
    """A Secrets Manager secret in moto, shaped as RDS manages it, holding the test database's
    credentials (trust auth: the password is not checked)."""
    secret = {
        "username": database.user,
        "password": "unused-trust-auth",
        "engine": "postgres",
        "host": database.host,
        "port": database.port,
    }
    out = moto.client("secretsmanager").create_secret(
        Name=f"rust-on-aws/db/{database.name}", SecretString=json.dumps(secret)
    )
    return str(out["ARN"])


# ---------------------------------------------------------------------------------------------
# Roots and functions


def server_jail(root: Path) -> Jail:
    return Jail(root, APP_UID, APP_UID)


def server_env(db: Database, **extra: str) -> dict[str, str]:
    """The ECS task definition's environment (docs/contracts.md section 3)."""
    return {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "DB_HOST": db.host,
        "DB_PORT": str(db.port),
        "DB_NAME": db.name,
        "DB_SSLMODE": "disable",
        "DB_USERNAME": db.user,
        "DB_PASSWORD": "unused-trust-auth",
        "RUST_LOG": "info",
        **extra,
    }


@pytest.fixture(scope="session")
def server_root(
    jail_tools: None, policy: Policy, artifacts: Artifacts, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """A minimal root holding dist/server at /app, as app/Dockerfile copies it."""
    root = tmp_path_factory.mktemp("server-root") / "root"
    build_root(
        root, policy, arch=artifacts.manifest.get("architecture", "x86_64"), users={"app": APP_UID}
    )
    copy_tree(artifacts.server_dir, root / "app")
    return root


@pytest.fixture(scope="session")
def lambda_root(
    jail_tools: None,
    policy: Policy,
    rie_binary: Path,
    artifacts: Artifacts,
    tmp_path_factory: pytest.TempPathFactory,
) -> Callable[[str], Path]:
    """function name -> a minimal root with its zip unpacked in /var/task (made once per name)."""
    made: dict[str, Path] = {}

    def make(function: str) -> Path:
        if function not in made:
            root = tmp_path_factory.mktemp(f"{function}-root") / "root"
            build_root(root, policy, arch=artifacts.manifest.get("architecture", "x86_64"))
            install_rie(rie_binary, root)
            unpack_zip(artifacts.zip(function), root / "var" / "task")
            made[function] = root
        return made[function]

    return make


@pytest.fixture(scope="session")
def function_env(
    policy: Policy, database: Database, db_secret: str, moto: Moto
) -> Callable[..., dict[str, str]]:
    """function name (+ overrides) -> the environment components/rust_lambda.py gives it."""

    def make(function: str, **overrides: str) -> dict[str, str]:
        extra = {
            "DB_HOST": database.host,
            "DB_PORT": str(database.port),
            "DB_NAME": database.name,
            "DB_SECRET_ARN": db_secret,
            "DB_SSLMODE": "disable",
            "AWS_ENDPOINT_URL": moto.endpoint,
            "RUST_LOG": "info",
        }
        if function == "event":
            extra["ECR_REPOSITORY_NAME"] = ECR_REPOSITORY
        if function == "timer":
            extra["TOKEN_RETENTION_DAYS"] = "30"
            extra["COMMAND_RETENTION_DAYS"] = "90"
        extra.update(overrides)
        return lambda_environment(
            policy, function_name=f"rust-on-aws-test-{function}", region=REGION, extra=extra
        )

    return make


@pytest.fixture(scope="session")
def start_function(
    lambda_root: Callable[[str], Path],
    function_env: Callable[..., dict[str, str]],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Callable[..., RieFunction]]:
    """(function, **env overrides) -> a started emulator; all are stopped at session end."""
    started: list[RieFunction] = []

    def start(function: str, **overrides: str) -> RieFunction:
        log = tmp_path_factory.mktemp(f"{function}-log") / "rie.log"
        jail = Jail(lambda_root(function), SANDBOX_UID, SANDBOX_UID)
        fn = RieFunction(jail, function_env(function, **overrides), log)
        started.append(fn)
        return fn.start()

    yield start
    for fn in started:
        fn.stop()


def record_init(function: str, fn: RieFunction, artifacts: Artifacts | None = None) -> None:
    """Keep the init duration of ``fn`` (after its first invoke) for the summary and JSON."""
    init = fn.init_duration_ms()
    entry: dict[str, Any] = {
        "init_duration_ms": init,
        "rie_report_init_duration_ms": fn.report_init_duration_ms(),
    }
    if artifacts is not None:
        meta = artifacts.manifest["functions"][function]
        entry.update(zip_size=meta.get("size"), zip_sha256=meta.get("sha256"))
    METRICS["functions"][function] = entry


# ---------------------------------------------------------------------------------------------
# Reporting


def pytest_terminal_summary(terminalreporter: Any) -> None:
    functions = METRICS["functions"]
    server = METRICS["server"]
    if not functions and not server:
        return
    terminalreporter.section("cold start in the minimal root (aws-lambda-rie)")
    for name, entry in sorted(functions.items()):
        init = entry.get("init_duration_ms")
        shown = "n/a" if init is None else f"{init:.1f} ms"
        terminalreporter.write_line(f"  {name:<12} init duration {shown}")
    if server.get("time_to_healthy_ms") is not None:
        terminalreporter.write_line(
            f"  {'server':<12} first healthy /healthz after {server['time_to_healthy_ms']:.1f} ms"
        )
    if any(name in FUNCTIONS for name in functions) or server:
        out = DIST / "runtime-metrics.json"
        doc = {
            "version": 1,
            "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "source": "tests/runtime (aws-lambda-rie in a minimal root; host glibc)",
            "functions": {k: v for k, v in functions.items() if k in FUNCTIONS},
            "server": server,
        }
        if out.parent.is_dir():
            out.write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n")
            terminalreporter.write_line(f"  written to {out.relative_to(ROOT)}")
