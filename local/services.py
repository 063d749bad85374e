"""The services one stack needs on 127.0.0.1, and what the stack gives its processes.

One module for the runtime tests (tests/runtime/conftest.py) and `make local` (local/stack.py):

- `MotoServer`: moto's server (Secrets Manager, ECR, ...) on a free port;
- `Postgres`: a PostgreSQL cluster of our own (scripts/postgres.sh: TLS with a test CA,
  scram-sha-256 for every role but the trusted superuser);
- `Database`: a fresh database shaped as RDS makes one (a CREATEROLE master owns it; the
  runtime role is the one the migrate function creates), `Secrets`: its secrets in moto;
- `function_environment` / `server_environment`: the variables components/rust_lambda.py and
  components/service.py give a process, from its declaration;
- `function_root` / `server_root`: a minimal root holding one artifact (local.sandbox).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import secrets
import shutil
import string
import subprocess
import sys
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import boto3

from build.policy import Policy
from declarations import FunctionDeclaration
from local.sandbox import (
    APP_UID,
    Jail,
    SandboxError,
    build_root,
    copy_tree,
    free_port,
    install_rie,
    lambda_environment,
    start_listening,
    unpack_zip,
)

ROOT = Path(__file__).resolve().parents[1]
REGION = "eu-west-1"
TEST_CA_IN_ROOT = "/opt/test-ca.pem"
"""Where every root holds the CA of the local PostgreSQL's certificate, as a layer (/opt)
would: processes run with DB_SSLMODE=verify-full and DB_SSLROOTCERT there."""


def require_tool(name: str, fix: str) -> str:
    """The path of `name` on PATH, or one line naming what to install."""
    path = shutil.which(name)
    if path is None:
        raise SandboxError(f"{name} not found on PATH: {fix}")
    return path


# ---------------------------------------------------------------------------------------------
# moto


@dataclass(frozen=True)
class Moto:
    endpoint: str
    region: str = REGION

    def client(self, service: str) -> Any:
        return boto3.client(
            service,
            region_name=self.region,
            endpoint_url=self.endpoint,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )

    def push_image(self, repository: str, tag: str, config_size: int = 1000) -> str:
        """An image manifest put to ECR under `tag` (the repository made if missing), as a
        `docker push` leaves it; its digest."""
        ecr = self.client("ecr")
        with contextlib.suppress(ecr.exceptions.RepositoryAlreadyExistsException):
            ecr.create_repository(repositoryName=repository)
        layer = hashlib.sha256(tag.encode()).hexdigest()
        manifest = {
            "schemaVersion": 2,
            "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
            "config": {
                "mediaType": "application/vnd.docker.container.image.v1+json",
                "size": config_size,
                "digest": f"sha256:{hashlib.sha256(b'config' + tag.encode()).hexdigest()}",
            },
            "layers": [
                {
                    "mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
                    "size": config_size * 10,
                    "digest": f"sha256:{layer}",
                }
            ],
        }
        out = ecr.put_image(
            repositoryName=repository, imageManifest=json.dumps(manifest), imageTag=tag
        )
        return str(out["image"]["imageId"]["imageDigest"])


@dataclass
class MotoServer:
    """moto's server on 127.0.0.1 (`port` 0: a free one)."""

    log_path: Path
    port: int = 0
    process: subprocess.Popen[bytes] | None = None

    def start(self, *, timeout: float = 60.0) -> Moto:
        binary = Path(sys.executable).parent / "moto_server"
        if not binary.is_file():
            raise SandboxError(f"{binary} not found: run `make setup` (moto[server] is pinned)")
        self.port = self.port or free_port()
        self.process = start_listening(
            [str(binary), "-H", "127.0.0.1", "-p", str(self.port)],
            env=None,
            log_path=self.log_path,
            port=self.port,
            timeout=timeout,
            what="moto's server",
        )
        return Moto(f"http://127.0.0.1:{self.port}")

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=15)


# ---------------------------------------------------------------------------------------------
# PostgreSQL


def psql(url: str, statement: str) -> str:
    """One statement through psql as the URL's user: its output, or `SandboxError` naming the
    statement and PostgreSQL's message."""
    proc = subprocess.run(
        ["psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", url, "-c", statement],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise SandboxError(f"psql failed on {statement!r}: {proc.stderr.strip()}")
    return proc.stdout.strip()


@dataclass(frozen=True)
class Postgres:
    """A cluster of our own run by scripts/postgres.sh on 127.0.0.1:`port` under `root`."""

    port: int
    root: Path

    @property
    def admin_url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/postgres"

    def _script(self, command: str) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "PGPORT": str(self.port), "PGROOT": str(self.root)}
        return subprocess.run(
            ["bash", str(ROOT / "scripts" / "postgres.sh"), command],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )

    def start(self) -> Postgres:
        require_tool("psql", "install postgresql-client (apt-get install -y postgresql-client)")
        proc = self._script("start")
        if proc.returncode != 0:
            message = (proc.stderr or proc.stdout).strip().splitlines()
            raise SandboxError(
                f"PostgreSQL on 127.0.0.1:{self.port} did not start: "
                f"{message[-1] if message else 'no output'}"
            )
        return self

    def stop(self) -> None:
        self._script("stop")

    @property
    def ca(self) -> Path:
        """The test CA that signed the server's certificate."""
        return self.root / "tls" / "ca.crt"


def new_password() -> str:
    """A random password of the shape migrate makes (letters and digits)."""
    return "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(32))


def new_token() -> tuple[str, str, str]:
    """(token, id, sha256) in the app's format: roa_<12 a-z0-9>_<40 A-Za-z0-9>."""
    lower = string.ascii_lowercase + string.digits
    token_id = "".join(secrets.choice(lower) for _ in range(12))
    secret = "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(40))
    token = f"roa_{token_id}_{secret}"
    return token, token_id, hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class Database:
    """A fresh PostgreSQL database shaped as RDS makes one.

    ``master`` (a CREATEROLE role, not a superuser) owns it, as the RDS master user owns the
    database RDS creates; ``role`` is the runtime role the migrate function creates. psql on the
    host reaches it as the superuser ``user`` (trusted on 127.0.0.1 by scripts/postgres.sh) for
    setup and assertions.
    """

    host: str
    port: int
    name: str
    user: str
    admin_url: str
    master: str
    master_password: str
    role: str

    @classmethod
    def create(cls, admin_url: str, *, prefix: str = "runtime") -> Database:
        """A new database owned by a new master role; the runtime role's name is reserved."""
        parts = urlsplit(admin_url)
        suffix = uuid.uuid4().hex[:10]
        db = cls(
            host=parts.hostname or "127.0.0.1",
            port=parts.port or 5432,
            name=f"{prefix}_{suffix}",
            user=parts.username or "postgres",
            admin_url=admin_url,
            master=f"rt_master_{suffix}",
            master_password=new_password(),
            role=f"rt_app_{suffix}",
        )
        psql(admin_url, f"CREATE ROLE {db.master} LOGIN CREATEROLE PASSWORD '{db.master_password}'")
        psql(admin_url, f'CREATE DATABASE "{db.name}" OWNER {db.master}')
        return db

    def drop(self) -> None:
        """The database and both roles, whatever state they are in."""
        for statement in (
            f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)',
            f"DROP ROLE IF EXISTS {self.role}",
            f"DROP ROLE IF EXISTS {self.master}",
        ):
            subprocess.run(
                ["psql", "-X", "-q", self.admin_url, "-c", statement],
                check=False,
                capture_output=True,
            )

    @property
    def url(self) -> str:
        return f"postgres://{self.user}@{self.host}:{self.port}/{self.name}"

    def sql(self, statement: str) -> str:
        return psql(self.url, statement)

    def rows(self, query: str) -> list[dict[str, Any]]:
        """``query``'s rows as dicts (through json_agg)."""
        out = self.sql(f"SELECT coalesce(json_agg(q), '[]'::json) FROM ({query}) q")
        return list(json.loads(out))

    def run_as(self, user: str, password: str, statement: str) -> subprocess.CompletedProcess[str]:
        """``statement`` as ``user`` with ``password`` (PostgreSQL checks it: scram-sha-256),
        errors with their SQLSTATE (``ERROR:  42501: ...``)."""
        flags = ["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-v", "VERBOSITY=verbose"]
        where = ["-h", self.host, "-p", str(self.port), "-U", user, "-d", self.name]
        return subprocess.run(
            ["psql", *flags, *where, "-c", statement],
            env={**os.environ, "PGPASSWORD": password, "PGCONNECT_TIMEOUT": "5"},
            capture_output=True,
            text=True,
            check=False,
        )

    def terminate(self, role: str) -> int:
        """Ends every session of ``role`` (pg_terminate_backend): pools must reconnect."""
        return int(
            self.sql(
                f"SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                f"WHERE usename = '{role}'"
            )
        )

    def insert_token(
        self, owner: str, scopes: list[str], *, expires: str = "NULL", revoked: str = "NULL"
    ) -> tuple[str, str]:
        """A token of `owner` written with psql (not by the code under test): (token, id)."""
        token, token_id = self.insert_tokens(owner, scopes, 1, expires=expires, revoked=revoked)[0]
        return token, token_id

    def insert_tokens(
        self,
        owner: str,
        scopes: list[str] | tuple[str, ...],
        count: int,
        *,
        expires: str = "NULL",
        revoked: str = "NULL",
    ) -> list[tuple[str, str]]:
        """`count` tokens of `owner` in one statement, written with psql: [(token, id)]."""
        array = "ARRAY[" + ",".join(f"'{s}'" for s in scopes) + "]::text[]"
        made, rows = [], []
        for _ in range(count):
            token, token_id, digest = new_token()
            made.append((token, token_id))
            rows.append(f"('{token_id}', '{digest}', '{owner}', {array}, {expires}, {revoked})")
        self.sql(
            "INSERT INTO api_tokens (id, token_sha256, owner, scopes, expires_at, revoked_at) "
            "VALUES " + ",".join(rows)
        )
        return made


@dataclass(frozen=True)
class Secrets:
    """The two secrets in moto: the master's (RDS manages it on AWS) and the runtime role's
    (created empty; the migrate function writes it)."""

    moto: Moto
    master_arn: str
    app_arn: str

    @classmethod
    def create(cls, moto: Moto, db: Database) -> Secrets:
        """The master secret as RDS manages it (only ``username`` and ``password``) and the app
        secret, created without a value as the stack creates it."""
        sm = moto.client("secretsmanager")
        master = sm.create_secret(
            Name=f"rds!db-{db.name}",
            SecretString=json.dumps({"username": db.master, "password": db.master_password}),
        )
        app = sm.create_secret(Name=f"rust-on-aws/app/{db.name}")
        return cls(moto, str(master["ARN"]), str(app["ARN"]))

    def app_value(self, stage: str = "AWSCURRENT") -> dict[str, Any]:
        out = self.moto.client("secretsmanager").get_secret_value(
            SecretId=self.app_arn, VersionStage=stage
        )
        return dict(json.loads(out["SecretString"]))

    def app_version(self) -> str:
        """The id of the version labelled AWSCURRENT."""
        out = self.moto.client("secretsmanager").get_secret_value(
            SecretId=self.app_arn, VersionStage="AWSCURRENT"
        )
        return str(out["VersionId"])

    def rotate_by_hand(self, db: Database) -> str:
        """A rotation done outside the code under test: a new password for the runtime role
        in PostgreSQL and as the secret's new AWSCURRENT version, then every session of the
        role ended, so the processes' pools must open new connections. Returns the password.

        The new version is staged and promoted explicitly (PutSecretValue with AWSPENDING, then
        UpdateSecretVersionStage), not by a plain PutSecretValue: after an
        UpdateSecretVersionStage, moto 5.2's plain PutSecretValue relabels a stale version and
        leaves two versions labelled AWSCURRENT (AWS keeps the label unique).
        """
        password = new_password()
        db.sql(f"ALTER ROLE {db.role} PASSWORD '{password}'")
        sm = self.moto.client("secretsmanager")
        current = self.app_version()
        value = {**self.app_value(), "password": password}
        new = sm.put_secret_value(
            SecretId=self.app_arn, SecretString=json.dumps(value), VersionStages=["AWSPENDING"]
        )["VersionId"]
        sm.update_secret_version_stage(
            SecretId=self.app_arn,
            VersionStage="AWSCURRENT",
            MoveToVersionId=new,
            RemoveFromVersionId=current,
        )
        sm.update_secret_version_stage(
            SecretId=self.app_arn, VersionStage="AWSPENDING", RemoveFromVersionId=new
        )
        db.terminate(db.role)
        return password


# ---------------------------------------------------------------------------------------------
# What the stack gives its processes


@dataclass(frozen=True)
class Wiring:
    """Where a process finds the stack's services (every field optional: a function without a
    database gets none of the database's)."""

    moto: Moto | None = None
    database: Database | None = None
    secrets: Secrets | None = None
    extra: Mapping[str, str] = field(default_factory=dict)


def function_environment(
    policy: Policy,
    name: str,
    declaration: FunctionDeclaration,
    wiring: Wiring,
    *,
    function_name: str | None = None,
    declared: Mapping[str, str] | None = None,
    region: str = REGION,
    memory_mb: int | None = None,
    timeout_s: int | None = None,
) -> dict[str, str]:
    """The environment components/rust_lambda.py and __main__.py give function `name`, from its
    declaration: the runtime role's secret (the migration: the master's and the app's), TLS
    verified against the local CA (DB_SSLMODE=verify-full, DB_SSLROOTCERT in /opt). Memory and
    timeout are the declaration's unless given (the emulator enforces the timeout)."""
    extra: dict[str, str] = {"RUST_LOG": "info"}
    if wiring.moto is not None:
        extra["AWS_ENDPOINT_URL"] = wiring.moto.endpoint
    if declaration.database:
        db, sec = wiring.database, wiring.secrets
        if db is None or sec is None:
            raise SandboxError(f"function {name} declares database = true: it needs a database")
        extra |= {
            "DB_HOST": db.host,
            "DB_PORT": str(db.port),
            "DB_NAME": db.name,
            "DB_SSLMODE": "verify-full",
            "DB_SSLROOTCERT": TEST_CA_IN_ROOT,
        }
        if declaration.trigger.kind == "migration":
            extra["DB_MASTER_SECRET_ARN"] = sec.master_arn
            extra["DB_APP_SECRET_ARN"] = sec.app_arn
            extra["DB_APP_USERNAME"] = db.role
        else:
            extra["DB_SECRET_ARN"] = sec.app_arn
    extra |= dict(declared or {})
    extra |= dict(wiring.extra)
    return lambda_environment(
        policy,
        function_name=function_name or f"rust-on-aws-local-{name}",
        region=region,
        memory_mb=declaration.memory if memory_mb is None else memory_mb,
        timeout_s=declaration.timeout if timeout_s is None else timeout_s,
        extra=extra,
    )


def server_environment(
    database: Database, secrets_: Secrets, moto: Moto, *, region: str = REGION, **extra: str
) -> dict[str, str]:
    """The ECS task's environment (docs/contracts.md section 3): the runtime role's secret read
    with the SDK, TLS verified against the local CA."""
    return {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "DB_HOST": database.host,
        "DB_PORT": str(database.port),
        "DB_NAME": database.name,
        "DB_SSLMODE": "verify-full",
        "DB_SSLROOTCERT": TEST_CA_IN_ROOT,
        "DB_SECRET_ARN": secrets_.app_arn,
        "AWS_ENDPOINT_URL": moto.endpoint,
        "AWS_REGION": region,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "RUST_LOG": "info",
        **extra,
    }


def install_ca(root: Path, ca: Path) -> None:
    """The local PostgreSQL's CA at TEST_CA_IN_ROOT."""
    target = root / TEST_CA_IN_ROOT.lstrip("/")
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(ca, target)
    target.chmod(0o644)


def function_root(
    dest: Path, policy: Policy, *, arch: str, rie: Path, archive: Path, ca: Path | None
) -> Path:
    """A minimal root with `archive` unpacked in /var/task, the emulator, and the CA in /opt."""
    build_root(dest, policy, arch=arch)
    install_rie(rie, dest)
    unpack_zip(archive, dest / "var" / "task")
    if ca is not None:
        install_ca(dest, ca)
    return dest


def server_root(
    dest: Path, policy: Policy, *, arch: str, server_dir: Path, ca: Path | None
) -> Path:
    """A minimal root holding dist/server at /app, as app/Dockerfile copies it."""
    build_root(dest, policy, arch=arch, users={"app": APP_UID})
    copy_tree(server_dir, dest / "app")
    if ca is not None:
        install_ca(dest, ca)
    return dest


def server_jail(root: Path) -> Jail:
    return Jail(root, APP_UID, APP_UID)


def issue_token(
    root: Path, binary: str, env: Mapping[str, str], owner: str, scopes: list[str]
) -> str:
    """A token issued by the real `server issue-token` in its minimal root (`binary`: its path
    under /app; `env`: the server's environment)."""
    argv = [f"/app/{binary}", "issue-token", "--owner", owner]
    for scope in scopes:
        argv += ["--scope", scope]
    proc = server_jail(root).run(argv, env=env)
    if proc.returncode != 0:
        raise SandboxError(f"server issue-token failed (exit {proc.returncode}): {proc.stderr}")
    return proc.stdout.strip().splitlines()[-1]
