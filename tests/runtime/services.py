"""What the runtime tests share besides fixtures: paths, dist/'s artifacts, the services'
handles, sample events and the cold-start metrics (conftest.py holds the fixtures)."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest

from tests.runtime.harness import APP_UID, HarnessError, Jail, RieFunction

ROOT = Path(__file__).resolve().parents[2]
DIST = Path(os.environ.get("RUNTIME_DIST", ROOT / "dist"))
"""dist/ (RUNTIME_DIST points the tests at another build's output, e.g. a CI artifact)."""
EVENTS = ROOT / "app" / "events"
REGION = "eu-west-1"
OWNER = "runtime-owner"
"""The owner of every token and device the tests create."""
ECR_REPOSITORY = "rust-on-aws-server"
FUNCTIONS = ("authorizer", "handler", "event", "timer")
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
    server = manifest.get("server") or {}
    if not (dist / str(server.get("binary", "-"))).is_file():
        raise HarnessError(f"{path} names no server binary that exists: run `make build`")
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


def issue_token(server_root: Path, artifacts: Artifacts, db: Database, scopes: list[str]) -> str:
    """A token issued by the real `server issue-token` in its minimal root."""
    argv = [f"/app/{artifacts.server_binary}", "issue-token", "--owner", OWNER]
    for scope in scopes:
        argv += ["--scope", scope]
    proc = server_jail(server_root).run(argv, env=server_env(db))
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
