"""Every stack's offline plan (made with the fixture manifest) passes every guardrail."""

from __future__ import annotations

from pathlib import Path

import pytest

from policy.engine import evaluate, resource_from_plan
from policy.rules import RULES
from policy.waivers import WAIVERS

ROOT = Path(__file__).resolve().parents[2]
FIXTURE_MANIFEST = ROOT / "tests" / "fixtures" / "manifest.json"
STACKS = ("dev", "sandbox", "prod")

record = pytest.importorskip("plan.record", reason="the plan runner (plan/record.py) is absent")


@pytest.fixture(scope="module")
def plans() -> dict[str, list]:
    if not FIXTURE_MANIFEST.is_file():
        pytest.fail(f"{FIXTURE_MANIFEST} is missing; it is committed with the plan runner")
    return {
        s: [resource_from_plan(e) for e in record.run_plan(s, root=ROOT, manifest=FIXTURE_MANIFEST)]
        for s in STACKS
    }


@pytest.mark.parametrize("stack", STACKS)
def test_stack_passes_every_policy(plans: dict[str, list], stack: str) -> None:
    report = evaluate(plans[stack])
    assert [v.line() for v in report.violations] == []
    # every rule had something to look at or is about resources this program does not create
    assert report.checked >= len(RULES) // 2
    assert report.undecided == []


def test_every_waiver_is_still_needed(plans: dict[str, list]) -> None:
    used = {w for s in STACKS for _, w in evaluate(plans[s]).waived}
    assert [w.rule for w in WAIVERS if w not in used] == []


def test_policy_catches_a_broken_stack(plans: dict[str, list]) -> None:
    """The real plan with its methods made public: the guardrail fails the stack."""
    report = evaluate(
        [
            type(r)(r.type, r.name, {**r.props, "authorization": "NONE"}, r.urn)
            if r.type == "aws:apigateway/method:Method"
            else r
            for r in plans["dev"]
        ]
    )
    assert {v.rule for v in report.violations} == {"apigateway-method-authorized"}
