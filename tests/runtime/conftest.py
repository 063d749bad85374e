"""Fixtures of the runtime tests: artifacts, minimal roots, the emulator, PostgreSQL and moto.

Session-scoped: the artifacts of ``dist/`` (built once with ``python -m build all`` when the
manifest is missing), one moto server, one fresh PostgreSQL database shaped as RDS makes one (a
non-superuser master role owns it; its secret in moto holds only username and password), set up
by the real migrate function under the emulator, which creates the runtime role and writes its
secret; every other process then connects as that role with that secret, over TLS verified
against the test server's CA (DB_SSLMODE=verify-full), as on AWS. The cold-start metrics are
written to ``dist/runtime-metrics.json``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

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
    rie_path,
    unpack_zip,
    wait_for_port,
)
from tests.runtime.services import (
    APP,
    DECLARED,
    DIST,
    FUNCTIONS,
    IN_CI,
    METRICS,
    REGION,
    ROOT,
    TEST_CA_IN_ROOT,
    Artifacts,
    Database,
    Moto,
    Secrets,
    check_manifest,
    declared_env,
    new_password,
    record_init,
)


def _fail_or_skip(message: str) -> None:
    """Missing prerequisites fail in CI (CI=true) and skip with the reason elsewhere."""
    if IN_CI:
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


# ---------------------------------------------------------------------------------------------
# Tools


@pytest.fixture(scope="session")
def rie_binary() -> Path:
    """The emulator `make setup` installs (override with AWS_LAMBDA_RIE)."""
    path = rie_path()
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


@pytest.fixture(scope="session")
def artifacts() -> Artifacts:
    """dist/ as `make build` leaves it; built here once when the manifest is missing."""
    if not (DIST / "manifest.json").is_file():
        proc = subprocess.run(
            [sys.executable, "-m", "build", "all", "--app", str(APP), "--dist", str(DIST)],
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


# ---------------------------------------------------------------------------------------------
# Services


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


def _psql(url: str, statement: str) -> str:
    proc = subprocess.run(
        ["psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", url, "-c", statement],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise AssertionError(f"psql failed on {statement!r}: {proc.stderr.strip()}")
    return proc.stdout.strip()


@pytest.fixture(scope="session")
def postgres_ca(postgres_admin: str) -> Path:
    """The CA that signed the test server's certificate: ``ca.crt`` next to its
    ``ssl_cert_file`` (scripts/postgres.sh makes both; ``scripts/postgres.sh ca`` prints it)."""
    ssl, cert = _psql(
        postgres_admin, "SELECT current_setting('ssl') || ' ' || current_setting('ssl_cert_file')"
    ).split(" ", 1)
    ca = Path(cert).with_name("ca.crt")
    if ssl != "on" or not ca.is_file():
        _fail_or_skip(
            f"the test PostgreSQL at {postgres_admin} serves no TLS with a test CA (ssl={ssl}, "
            f"no {ca}): restart it with `scripts/postgres.sh start`, which sets both up"
        )
    return ca


@pytest.fixture(scope="session")
def empty_database(postgres_admin: str) -> Iterator[Database]:
    """A fresh database owned by a fresh master role (CREATEROLE, not a superuser: what RDS
    gives), no schema yet; the runtime role's name is reserved. All dropped at the end."""
    parts = urlsplit(postgres_admin)
    suffix = uuid.uuid4().hex[:10]
    db = Database(
        host=parts.hostname or "127.0.0.1",
        port=parts.port or 5432,
        name=f"runtime_{suffix}",
        user=parts.username or "postgres",
        admin_url=postgres_admin,
        master=f"rt_master_{suffix}",
        master_password=new_password(),
        role=f"rt_app_{suffix}",
    )
    _psql(
        postgres_admin, f"CREATE ROLE {db.master} LOGIN CREATEROLE PASSWORD '{db.master_password}'"
    )
    _psql(postgres_admin, f'CREATE DATABASE "{db.name}" OWNER {db.master}')
    try:
        yield db
    finally:
        for statement in (
            f'DROP DATABASE IF EXISTS "{db.name}" WITH (FORCE)',
            f"DROP ROLE IF EXISTS {db.role}",
            f"DROP ROLE IF EXISTS {db.master}",
        ):
            subprocess.run(
                ["psql", "-X", "-q", postgres_admin, "-c", statement],
                check=False,
                capture_output=True,
            )


@pytest.fixture(scope="session")
def secrets(moto: Moto, empty_database: Database) -> Secrets:
    """The master secret as RDS manages it (only ``username`` and ``password``) and the app
    secret, created without a value as the stack creates it."""
    sm = moto.client("secretsmanager")
    db = empty_database
    master = sm.create_secret(
        Name=f"rds!db-{db.name}",
        SecretString=json.dumps({"username": db.master, "password": db.master_password}),
    )
    app = sm.create_secret(Name=f"rust-on-aws/app/{db.name}")
    return Secrets(moto, str(master["ARN"]), str(app["ARN"]))


@pytest.fixture(scope="session")
def migration(start_function: Callable[..., RieFunction], artifacts: Artifacts) -> dict[str, Any]:
    """The first invocation of the real migrate function (zip, emulator, minimal root): schema,
    runtime role, its password and secret. Its answer."""
    fn = start_function("migrate")
    result = fn.invoke({})
    if result.status != 200 or result.is_function_error:
        pytest.fail(
            f"the migrate function failed to set up the database: {result.body!r}\n"
            f"{fn.log()[-3000:]}",
            pytrace=False,
        )
    record_init("migrate", fn, artifacts)
    fn.stop()
    return dict(result.json())


@pytest.fixture(scope="session")
def database(empty_database: Database, migration: dict[str, Any]) -> Database:
    """The database once the migrate function has set it up."""
    assert migration["rotated"] is True, migration
    return empty_database


@pytest.fixture(scope="session")
def server_env(database: Database, secrets: Secrets, moto: Moto) -> Callable[..., dict[str, str]]:
    """(**overrides) -> the ECS task's environment (docs/contracts.md section 3): the runtime
    role's secret read with the SDK (moto), TLS verified against the test CA."""

    def make(**extra: str) -> dict[str, str]:
        return {
            "PATH": "/usr/local/bin:/usr/bin:/bin",
            "DB_HOST": database.host,
            "DB_PORT": str(database.port),
            "DB_NAME": database.name,
            "DB_SSLMODE": "verify-full",
            "DB_SSLROOTCERT": TEST_CA_IN_ROOT,
            "DB_SECRET_ARN": secrets.app_arn,
            "AWS_ENDPOINT_URL": moto.endpoint,
            "AWS_REGION": REGION,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "RUST_LOG": "info",
            **extra,
        }

    return make


def _install_test_ca(root: Path, ca: Path) -> None:
    target = root / TEST_CA_IN_ROOT.lstrip("/")
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(ca, target)
    target.chmod(0o644)


# ---------------------------------------------------------------------------------------------
# Roots and functions


@pytest.fixture(scope="session")
def server_root(
    jail_tools: None,
    policy: Policy,
    artifacts: Artifacts,
    postgres_ca: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Path:
    """A minimal root holding dist/server at /app, as app/Dockerfile copies it (the test CA in
    /opt)."""
    root = tmp_path_factory.mktemp("server-root") / "root"
    build_root(
        root, policy, arch=artifacts.manifest.get("architecture", "x86_64"), users={"app": APP_UID}
    )
    copy_tree(artifacts.server_dir, root / "app")
    _install_test_ca(root, postgres_ca)
    return root


@pytest.fixture(scope="session")
def lambda_root(
    jail_tools: None,
    policy: Policy,
    rie_binary: Path,
    artifacts: Artifacts,
    postgres_ca: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Callable[[str], Path]:
    """function name -> a minimal root with its zip unpacked in /var/task and the test CA in
    /opt (made once per name)."""
    made: dict[str, Path] = {}

    def make(function: str) -> Path:
        if function not in made:
            root = tmp_path_factory.mktemp(f"{function}-root") / "root"
            build_root(root, policy, arch=artifacts.manifest.get("architecture", "x86_64"))
            install_rie(rie_binary, root)
            unpack_zip(artifacts.zip(function), root / "var" / "task")
            _install_test_ca(root, postgres_ca)
            made[function] = root
        return made[function]

    return make


@pytest.fixture(scope="session")
def function_env(
    policy: Policy, empty_database: Database, secrets: Secrets, moto: Moto
) -> Callable[..., dict[str, str]]:
    """function name (+ overrides) -> the environment components/rust_lambda.py gives it: the
    runtime role's secret (migrate: the master's and the app's), TLS verified against the test
    CA (DB_SSLMODE=verify-full, DB_SSLROOTCERT in /opt)."""
    database = empty_database

    def make(function: str, **overrides: str) -> dict[str, str]:
        # What components/rust_lambda.py and __main__.py give a function, from its declaration.
        declared = DECLARED[function]
        extra = {"AWS_ENDPOINT_URL": moto.endpoint, "RUST_LOG": "info"}
        if declared.database:
            extra |= {
                "DB_HOST": database.host,
                "DB_PORT": str(database.port),
                "DB_NAME": database.name,
                "DB_SSLMODE": "verify-full",
                "DB_SSLROOTCERT": TEST_CA_IN_ROOT,
            }
            if declared.trigger.kind == "migration":
                extra["DB_MASTER_SECRET_ARN"] = secrets.master_arn
                extra["DB_APP_SECRET_ARN"] = secrets.app_arn
                extra["DB_APP_USERNAME"] = database.role
            else:
                extra["DB_SECRET_ARN"] = secrets.app_arn
        extra |= declared_env(function)
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
            terminalreporter.write_line(f"  written to {out}")
