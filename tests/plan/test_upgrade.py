"""A stack deployed before functions were declared upgrades in place.

The last commit with fixed function names was planned in a worktree (`plan.diff.plan_ref`, the
same machinery as `make plan-diff`) with the fixture manifest; its plans are kept in
tests/fixtures/upgrade/ (a clone may be shallow), and each is diffed against this commit's.
`python -m tests.plan.test_upgrade` makes them again (it needs that commit in the clone). The
EventBridge resources are now named after their functions (`-events-event`, `-events-timer`
instead of `-events-ecr-push`, `-events-schedule`); without aliases the diff, like a real
`pulumi up`, would replace all ten, and the terraform provider's create-then-delete would leave
both functions without their asynchronous invoke configuration (components/event_rules.py,
EARLIER_LABELS). What must hold:

- every alias names a resource the old plan really has (the URN the engine gave it there);
- nothing is removed or replaced; of the EventBridge resources nothing is added either, and the
  only updates are the two rules' descriptions;
- the kept resources keep their physical names, so the DLQ's policy and every target are
  unchanged.
"""

from __future__ import annotations

import gzip
import json
import sys
from pathlib import Path
from typing import Any

import pytest

from plan.diff import diff_plans, plan_ref
from plan.record import run_plan

ROOT = Path(__file__).resolve().parents[2]
MANIFEST = ROOT / "tests" / "fixtures" / "manifest.json"
BEFORE_DECLARATIONS = "81ba3a8"
"""main before functions were declared (the last commit with the fixed names)."""
STACKS = ("dev", "sandbox", "prod")
KEPT = ROOT / "tests" / "fixtures" / "upgrade"


def _kept(stack: str) -> Path:
    return KEPT / f"plan-{stack}-{BEFORE_DECLARATIONS}.json.gz"


@pytest.fixture(scope="module")
def old_plans() -> dict[str, list[Any]]:
    missing = [str(_kept(s)) for s in STACKS if not _kept(s).is_file()]
    if missing:
        pytest.fail(f"{missing} missing: run `python -m tests.plan.test_upgrade`", pytrace=False)
    return {s: json.loads(gzip.decompress(_kept(s).read_bytes())) for s in STACKS}


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


def _events(entries: list[Any]) -> list[Any]:
    """The EventBridge component and its children (what the renaming touched)."""
    return [e for e in entries if e["urn"].split("::")[2].startswith("rust-on-aws:event_rules:")]


@pytest.mark.parametrize("stack", STACKS)
def test_the_upgrade_removes_and_replaces_nothing(old_plans, stack: str) -> None:
    """Later work adds resources (monitoring, rollouts); none of the old ones goes."""
    diff = diff_plans(old_plans[stack], run_plan(stack, root=ROOT, manifest=MANIFEST))
    assert diff.of_kind("removed") == []
    assert [r.name for r in diff.of_kind("changed") if r.replaces] == []


@pytest.mark.parametrize("stack", STACKS)
def test_the_event_rules_update_two_descriptions_and_nothing_else(old_plans, stack: str) -> None:
    new = run_plan(stack, root=ROOT, manifest=MANIFEST)
    diff = diff_plans(_events(old_plans[stack]), _events(new))
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


def main() -> int:
    """Plan BEFORE_DECLARATIONS for every stack again and keep the plans (byte-stable)."""
    KEPT.mkdir(parents=True, exist_ok=True)
    for stack in STACKS:
        entries = plan_ref(BEFORE_DECLARATIONS, stack, MANIFEST, KEPT / f"{stack}.json")
        (KEPT / f"{stack}.json").unlink()
        data = (json.dumps(entries, indent=1, sort_keys=True) + "\n").encode()
        _kept(stack).write_bytes(gzip.compress(data, mtime=0))
        print(f"wrote {_kept(stack)} ({len(entries)} resources)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
