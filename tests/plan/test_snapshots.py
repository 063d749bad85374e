"""The plan of every stack equals its committed snapshot, so plan changes show in review.

After an intended change, regenerate and commit the snapshots:

    ROA_UPDATE_SNAPSHOTS=1 .venv/bin/python -m pytest tests/plan/test_snapshots.py
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Mapping
from pathlib import Path

import pytest

from plan.record import dumps, write_plan

ROOT = Path(__file__).resolve().parents[2]
SNAPSHOTS = ROOT / "tests" / "snapshots"


def update_requested(environ: Mapping[str, str]) -> bool:
    """ROA_UPDATE_SNAPSHOTS=1 asks to rewrite the snapshots; never in CI.

    A CI run that rewrote them would compare the plan with itself and pass whatever changed.
    """
    if environ.get("ROA_UPDATE_SNAPSHOTS") != "1":
        return False
    if environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(
            "ROA_UPDATE_SNAPSHOTS=1 is refused under CI=true: snapshots are rewritten on a "
            "developer machine and committed, then CI compares against them; unset "
            "ROA_UPDATE_SNAPSHOTS in the CI environment",
            pytrace=False,
        )
    return True


def test_update_is_refused_in_ci() -> None:
    assert update_requested({}) is False
    assert update_requested({"ROA_UPDATE_SNAPSHOTS": "1"}) is True
    assert update_requested({"ROA_UPDATE_SNAPSHOTS": "1", "CI": "false"}) is True
    for ci in ("true", "1", "TRUE"):
        with pytest.raises(pytest.fail.Exception, match="refused under CI=true"):
            update_requested({"ROA_UPDATE_SNAPSHOTS": "1", "CI": ci})


def test_plan_matches_snapshot(stack: str, stack_entries) -> None:
    path = SNAPSHOTS / f"plan-{stack}.json"
    current = dumps(stack_entries(stack))
    if update_requested(os.environ):
        write_plan(stack_entries(stack), path)
    assert path.is_file(), f"{path} missing: run ROA_UPDATE_SNAPSHOTS=1 pytest {__file__}"
    committed = path.read_text()
    if committed != current:
        diff = "".join(
            list(
                difflib.unified_diff(
                    committed.splitlines(keepends=True),
                    current.splitlines(keepends=True),
                    f"snapshot/plan-{stack}.json",
                    f"current/plan-{stack}.json",
                )
            )[:80]
        )
        pytest.fail(
            f"the {stack} plan changed; review the diff below, then regenerate with "
            "ROA_UPDATE_SNAPSHOTS=1 .venv/bin/python -m pytest tests/plan/test_snapshots.py\n"
            f"{diff}"
        )
