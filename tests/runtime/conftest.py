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
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from build.policy import Policy, load_policy
from local.sandbox import (
    SANDBOX_UID,
    Jail,
    RieFunction,
    SandboxError,
    rie_path,
)
from local.services import (
    MotoServer,
    Wiring,
    function_environment,
    function_root,
    psql,
    server_environment,
)
from local.services import server_root as server_root_in
from tests.runtime.services import (
    APP,
    DECLARED,
    DIST,
    FUNCTIONS,
    IN_CI,
    METRICS,
    REGION,
    ROOT,
    Artifacts,
    Database,
    Moto,
    Secrets,
    check_manifest,
    declared_env,
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
    except SandboxError as exc:
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
    server = MotoServer(tmp_path_factory.mktemp("moto") / "moto.log")
    try:
        yield server.start()
    except SandboxError as exc:
        _fail_or_skip(str(exc))
    finally:
        server.stop()


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
    return psql(url, statement)


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
    db = Database.create(postgres_admin)
    try:
        yield db
    finally:
        db.drop()


@pytest.fixture(scope="session")
def secrets(moto: Moto, empty_database: Database) -> Secrets:
    """The master secret as RDS manages it (only ``username`` and ``password``) and the app
    secret, created without a value as the stack creates it."""
    return Secrets.create(moto, empty_database)


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
        return server_environment(database, secrets, moto, region=REGION, **extra)

    return make


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
    return server_root_in(
        root, policy, arch=artifacts.architecture, server_dir=artifacts.server_dir, ca=postgres_ca
    )


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
            made[function] = function_root(
                root,
                policy,
                arch=artifacts.architecture,
                rie=rie_binary,
                archive=artifacts.zip(function),
                ca=postgres_ca,
            )
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
        wiring = Wiring(moto=moto, database=database, secrets=secrets, extra=overrides)
        return function_environment(
            policy,
            function,
            DECLARED[function],
            wiring,
            function_name=f"rust-on-aws-test-{function}",
            declared=declared_env(function),
            region=REGION,
            memory_mb=128,
            timeout_s=30,
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
