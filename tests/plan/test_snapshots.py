"""The plan of every stack equals its committed snapshot, so plan changes show in review.

After an intended change, regenerate and commit the snapshots:

    ROA_UPDATE_SNAPSHOTS=1 .venv/bin/python -m pytest tests/plan/test_snapshots.py
"""

from __future__ import annotations

import difflib
import os
from pathlib import Path

import pytest

from plan.record import dumps, write_plan

ROOT = Path(__file__).resolve().parents[2]
SNAPSHOTS = ROOT / "tests" / "snapshots"
UPDATE = os.environ.get("ROA_UPDATE_SNAPSHOTS") == "1"


def test_plan_matches_snapshot(stack: str, stack_entries) -> None:
    path = SNAPSHOTS / f"plan-{stack}.json"
    current = dumps(stack_entries(stack))
    if UPDATE:
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
