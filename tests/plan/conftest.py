"""Fixtures: `stack` (each of dev, sandbox, prod), its `plan`, and `stack_entries(stack)`.

Plans are made once per session with the fixture manifest (tests/fixtures/manifest.json).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from plan.record import run_plan
from plan.view import Plan

ROOT = Path(__file__).resolve().parents[2]
STACKS = ("dev", "sandbox", "prod")
Entries = list[dict[str, Any]]


@pytest.fixture(scope="session")
def stack_entries() -> Callable[[str], Entries]:
    cache: dict[str, Entries] = {}

    def entries_of(stack: str) -> Entries:
        if stack not in cache:
            cache[stack] = run_plan(
                stack, root=ROOT, manifest=ROOT / "tests" / "fixtures" / "manifest.json"
            )
        return cache[stack]

    return entries_of


@pytest.fixture(params=STACKS)
def stack(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def plan(stack: str, stack_entries: Callable[[str], Entries]) -> Plan:
    return Plan(stack_entries(stack))
