"""Fixtures for component tests: run a snippet under the recording mocks, get a Plan."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from components.manifest import Manifest, read_manifest
from components.rust_lambda import RustLambda, RustLambdaArgs
from plan.record import record
from plan.view import Plan

ROOT = Path(__file__).resolve().parents[2]
SECRET = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:rds!db-1-AbCdEf"


def lambdas(manifest: Manifest, *names: str) -> dict[str, RustLambda]:
    """RustLambdas for the fixture manifest's `names`, with minimal arguments (inside a program)."""
    return {
        name: RustLambda(
            name,
            RustLambdaArgs(
                artifact=manifest.functions[name],
                runtime="provided.al2023",
                vpc_id="vpc-1",
                subnet_ids=["subnet-a"],
                db_secret_arn=SECRET,
            ),
        )
        for name in names
    }


@pytest.fixture
def run() -> Callable[[Callable[[], object]], Plan]:
    """run(program) -> Plan of what `program` registered (region eu-west-1)."""

    def _run(program: Callable[[], object]) -> Plan:
        return Plan(record(program, root=ROOT, config={"aws:region": "eu-west-1"}))

    return _run


@pytest.fixture
def manifest() -> Manifest:
    return read_manifest(
        ROOT / "tests" / "fixtures" / "manifest.json",
        runtime="provided.al2023",
        architecture="x86_64",
    )
