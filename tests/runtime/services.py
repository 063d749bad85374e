"""What the runtime tests share besides fixtures: paths, dist/'s artifacts, the services'
handles, sample events and the cold-start metrics (conftest.py holds the fixtures)."""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import string
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest

from build.cargo import discover
from build.errors import BuildError
from declarations import DeclarationError, FunctionDeclaration, function_from_json, resolve
from tests.runtime.harness import APP_UID, HarnessError, Jail, RieFunction

ROOT = Path(__file__).resolve().parents[2]
DIST = Path(os.environ.get("RUNTIME_DIST", ROOT / "dist"))
"""dist/ (RUNTIME_DIST points the tests at another build's output, e.g. a CI artifact)."""
EVENTS = ROOT / "app" / "events"
REGION = "eu-west-1"
OWNER = "runtime-owner"
"""The owner of every token and device the tests create."""
ECR_REPOSITORY = "rust-on-aws-server"
APP = Path(os.environ.get("RUNTIME_APP", ROOT / "app"))
"""The workspace whose declarations say what runs (RUNTIME_APP: another one, with RUNTIME_DIST
its build; tests/build/test_extra_function.py)."""
ACCOUNT = "123456789012"
"""moto's account."""


def _declared(app: Path) -> dict[str, FunctionDeclaration]:
    """The functions `app`'s crates declare, read as `python -m build` reads them."""
    try:
        return discover(app).functions
    except BuildError as exc:
        raise HarnessError(f"the runtime tests run what {app} declares, and: {exc}") from None


DECLARED = _declared(APP)
"""Every function the workspace declares, by name: the runtime tests run each."""
FUNCTIONS = tuple(sorted(DECLARED))
WITH_DATABASE = tuple(n for n in FUNCTIONS if DECLARED[n].database)
REFERENCES = {
    "stack": "test",
    "region": REGION,
    "account": ACCOUNT,
    "ecr-repository.name": ECR_REPOSITORY,
    "ecr-repository.arn": f"arn:aws:ecr:{REGION}:{ACCOUNT}:repository/{ECR_REPOSITORY}",
}
"""What `${reference}` in a declaration stands for here (declarations.REFERENCES)."""


def declared_env(function: str) -> dict[str, str]:
    """The function's declared environment, references resolved as the program would."""
    return {
        name: resolve(value, REFERENCES.__getitem__, "".join)
        for name, value in DECLARED[function].env
    }


TEST_CA_IN_ROOT = "/opt/test-ca.pem"
"""Where every root holds the CA of the test PostgreSQL's certificate (scripts/postgres.sh), as
a layer (/opt) would: the processes run with DB_SSLMODE=verify-full and DB_SSLROOTCERT there."""
RDS_BUNDLE_IN_TASK = "/var/task/certs/rds-ca-bundle.pem"
"""The bundle every zip ships (build/certs.py), as Lambda sees it."""
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
METRICS: dict[str, Any] = {"functions": {}, "server": {}}
"""Cold-start figures collected by the tests; written to dist/runtime-metrics.json at the end."""


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
        try:
            recorded = function_from_json(name, entry.get("declaration"), f"{path} {name}")
        except DeclarationError as exc:
            raise HarnessError(f"{exc} (an older build?): run `make build`") from None
        if recorded.to_json() != DECLARED[name].to_json():
            raise HarnessError(
                f"{path} records function {name} as {recorded.to_json()}, {APP} declares "
                f"{DECLARED[name].to_json()}: the build is stale, run `make build`"
            )
    extra = sorted(set(functions) - set(FUNCTIONS))
    if extra:
        raise HarnessError(
            f"{path} has functions {APP} does not declare ({', '.join(extra)}): the build is "
            "stale, run `make build`"
        )
    server = manifest.get("server") or {}
    if not (dist / str(server.get("binary", "-"))).is_file():
        raise HarnessError(f"{path} names no server binary that exists: run `make build`")
    if not isinstance(manifest.get("ca_bundle"), dict):
        raise HarnessError(f"{path} records no ca_bundle (an older build): run `make build`")
    return dict(manifest)


def sample_events(function: str) -> dict[str, Any]:
    """app/events/<function>/*.json by case name."""
    folder = EVENTS / function
    events = {p.stem: json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))}
    if not events:
        pytest.fail(f"no sample events in {folder}: app/events/ must hold them", pytrace=False)
    return events


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


def new_password() -> str:
    """A random password of the shape migrate makes (letters and digits)."""
    return "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(32))


@dataclass(frozen=True)
class Database:
    """A fresh PostgreSQL database of the test server, shaped as RDS makes one.

    ``master`` (a CREATEROLE role, not a superuser) owns it, as the RDS master user owns the
    database RDS creates; ``role`` is the runtime role the migrate function creates. psql on the
    host reaches it as the superuser ``user`` (trusted on 127.0.0.1 by scripts/postgres.sh) for
    the tests' own setup and assertions.
    """

    host: str
    port: int
    name: str
    user: str
    admin_url: str
    master: str
    master_password: str
    role: str

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


@dataclass(frozen=True)
class Secrets:
    """The two secrets in moto: the master's (RDS manages it on AWS) and the runtime role's
    (created empty; the migrate function writes it)."""

    moto: Moto
    master_arn: str
    app_arn: str

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


def new_token() -> tuple[str, str, str]:
    """(token, id, sha256) in the app's format: roa_<12 a-z0-9>_<40 A-Za-z0-9>."""
    lower = string.ascii_lowercase + string.digits
    token_id = "".join(secrets.choice(lower) for _ in range(12))
    secret = "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(40))
    token = f"roa_{token_id}_{secret}"
    return token, token_id, hashlib.sha256(token.encode()).hexdigest()


def insert_token(
    db: Database, scopes: list[str], *, expires: str = "NULL", revoked: str = "NULL"
) -> tuple[str, str]:
    """A token of ``OWNER`` written with psql (not by the code under test): (token, id)."""
    token, token_id, digest = new_token()
    array = "ARRAY[" + ",".join(f"'{s}'" for s in scopes) + "]::text[]"
    db.sql(
        "INSERT INTO api_tokens (id, token_sha256, owner, scopes, expires_at, revoked_at) "
        f"VALUES ('{token_id}', '{digest}', '{OWNER}', {array}, {expires}, {revoked})"
    )
    return token, token_id


def server_jail(root: Path) -> Jail:
    return Jail(root, APP_UID, APP_UID)


def issue_token(
    server_root: Path, artifacts: Artifacts, env: dict[str, str], scopes: list[str]
) -> str:
    """A token issued by the real `server issue-token` in its minimal root (``env``: the
    server's environment, credentials from the runtime role's secret)."""
    argv = [f"/app/{artifacts.server_binary}", "issue-token", "--owner", OWNER]
    for scope in scopes:
        argv += ["--scope", scope]
    proc = server_jail(server_root).run(argv, env=env)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip().splitlines()[-1]


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
