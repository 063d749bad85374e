"""What the runtime tests share besides fixtures: paths, dist/'s artifacts, the services'
handles, sample events and the cold-start metrics (conftest.py holds the fixtures). The
machinery itself is local/ (local.sandbox, local.services, local.artifacts), which `make local`
runs too: this module only binds it to the tests' workspace and dist/."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from local.artifacts import Artifacts, check_dist, declared, references
from local.artifacts import declared_env as _declared_env
from local.events import ACCOUNT
from local.sandbox import RieFunction
from local.services import (
    REGION,
    TEST_CA_IN_ROOT,
    Database,
    Moto,
    Secrets,
    new_password,
    new_token,
    server_jail,
)
from local.services import issue_token as _issue_token

__all__ = [
    "ACCOUNT",
    "REGION",
    "TEST_CA_IN_ROOT",
    "Artifacts",
    "Database",
    "Moto",
    "Secrets",
    "new_password",
    "new_token",
    "server_jail",
]

ROOT = Path(__file__).resolve().parents[2]
DIST = Path(os.environ.get("RUNTIME_DIST", ROOT / "dist"))
"""dist/ (RUNTIME_DIST points the tests at another build's output, e.g. a CI artifact)."""
EVENTS = ROOT / "app" / "events"
OWNER = "runtime-owner"
"""The owner of every token and device the tests create."""
ECR_REPOSITORY = "rust-on-aws-server"
APP = Path(os.environ.get("RUNTIME_APP", ROOT / "app"))
"""The workspace whose declarations say what runs (RUNTIME_APP: another one, with RUNTIME_DIST
its build; tests/build/test_extra_function.py)."""


DECLARED = declared(APP)
"""Every function the workspace declares, by name: the runtime tests run each."""
FUNCTIONS = tuple(sorted(DECLARED))
WITH_DATABASE = tuple(n for n in FUNCTIONS if DECLARED[n].database)
REFERENCES = references(stack="test", region=REGION, account=ACCOUNT, ecr_repository=ECR_REPOSITORY)
"""What `${reference}` in a declaration stands for here (declarations.REFERENCES)."""


def declared_env(function: str) -> dict[str, str]:
    """The function's declared environment, references resolved as the program would."""
    return _declared_env(DECLARED[function], REFERENCES)


RDS_BUNDLE_IN_TASK = "/var/task/certs/rds-ca-bundle.pem"
"""The bundle every zip ships (build/certs.py), as Lambda sees it."""
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
METRICS: dict[str, Any] = {"functions": {}, "server": {}}
"""Cold-start figures collected by the tests; written to dist/runtime-metrics.json at the end."""


def check_manifest(dist: Path) -> dict[str, Any]:
    """Read dist/manifest.json; every way it can be unusable is one line naming `make build`."""
    return check_dist(dist, DECLARED, APP).manifest


def sample_events(function: str) -> dict[str, Any]:
    """app/events/<function>/*.json by case name."""
    folder = EVENTS / function
    events = {p.stem: json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))}
    if not events:
        pytest.fail(f"no sample events in {folder}: app/events/ must hold them", pytrace=False)
    return events


def insert_token(
    db: Database, scopes: list[str], *, expires: str = "NULL", revoked: str = "NULL"
) -> tuple[str, str]:
    """A token of ``OWNER`` written with psql (not by the code under test): (token, id)."""
    return db.insert_token(OWNER, scopes, expires=expires, revoked=revoked)


def issue_token(
    server_root: Path, artifacts: Artifacts, env: dict[str, str], scopes: list[str]
) -> str:
    """A token issued by the real `server issue-token` in its minimal root (``env``: the
    server's environment, credentials from the runtime role's secret)."""
    return _issue_token(server_root, artifacts.server_binary, env, OWNER, scopes)


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
