"""A stack deployed before functions were declared upgrades in place.

The last commit with fixed function names is planned in a worktree (`plan.diff.plan_ref`, the
same machinery as `make plan-diff`) with the fixture manifest, and diffed against this one. The
EventBridge resources are now named after their functions (`-events-event`, `-events-timer`
instead of `-events-ecr-push`, `-events-schedule`); without aliases the diff, like a real
`pulumi up`, would replace all ten, and the terraform provider's create-then-delete would leave
both functions without their asynchronous invoke configuration (components/event_rules.py,
EARLIER_LABELS). What must hold:

- every alias names a resource the old plan really has (the URN the engine gave it there);
- nothing is added, removed or replaced; the only updates are the two rules' descriptions;
- the kept resources keep their physical names, so the DLQ's policy and every target are
  unchanged.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from plan.diff import diff_plans, plan_ref
from plan.record import run_plan

ROOT = Path(__file__).resolve().parents[2]
MANIFEST = ROOT / "tests" / "fixtures" / "manifest.json"
BEFORE_DECLARATIONS = "81ba3a8"
"""main before functions were declared (the last commit with the fixed names)."""
STACKS = ("dev", "sandbox", "prod")


@pytest.fixture(scope="module")
def old_plans(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list]:
    known = subprocess.run(
        ["git", "cat-file", "-e", f"{BEFORE_DECLARATIONS}^{{commit}}"],
        cwd=ROOT,
        capture_output=True,
        check=False,
    )
    if known.returncode != 0:
        message = (
            f"commit {BEFORE_DECLARATIONS} is not in this clone (a shallow one?): "
            "run `git fetch --unshallow`"
        )
        if os.environ.get("CI"):
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    out = tmp_path_factory.mktemp("old-plans")
    return {s: plan_ref(BEFORE_DECLARATIONS, s, MANIFEST, out / f"{s}.json") for s in STACKS}


@pytest.mark.parametrize("stack", STACKS)
def test_every_alias_names_a_resource_of_the_old_plan(old_plans, stack: str) -> None:
    old_urns = {e["urn"] for e in old_plans[stack]}
    new = run_plan(stack, root=ROOT, manifest=MANIFEST)
    ours = [e for e in new if e["type"].startswith("aws:") and "-events-" in e["name"]]
    renamed = [e for e in ours if any(a in old_urns for a in e.get("aliases", []))]
    # Per function: the rule, its target, the permission, the failures grant, the async
    # configuration; each finds its old self, and nothing else of ours is aliased.
    assert len(renamed) == 10
    assert {e["name"].split("-events-")[1].split("-")[0] for e in renamed} == {"event", "timer"}
    assert [e["name"] for e in ours if e.get("aliases") and e not in renamed] == []


@pytest.mark.parametrize("stack", STACKS)
def test_the_upgrade_updates_two_descriptions_and_nothing_else(old_plans, stack: str) -> None:
    diff = diff_plans(old_plans[stack], run_plan(stack, root=ROOT, manifest=MANIFEST))
    assert diff.of_kind("added") == []
    assert diff.of_kind("removed") == []
    changed = diff.of_kind("changed")
    assert [(r.type, r.was, r.name) for r in changed] == [
        (
            "aws:cloudwatch/eventRule:EventRule",
            f"rust-on-aws-{stack}-events-ecr-push",
            f"rust-on-aws-{stack}-events-event",
        ),
        (
            "aws:cloudwatch/eventRule:EventRule",
            f"rust-on-aws-{stack}-events-schedule",
            f"rust-on-aws-{stack}-events-timer",
        ),
    ]
    assert all([c.path for c in r.changes] == ["description"] for r in changed)
    assert not any(r.replaces for r in changed)
    assert len(diff.renamed) == 10
