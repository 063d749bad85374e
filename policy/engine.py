"""Run the rules over a set of resources: what the offline runner and the tests call."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from policy.model import Resource, ResourceRule, Rule, StackRule, Unknown, Violation
from policy.rules import RULES
from policy.waivers import WAIVERS, Waiver, waiver_for


class PlanError(Exception):
    """A plan file that is missing or not in the shape of docs/contracts.md section 5."""


@dataclass
class Report:
    """What a run found: violations, and checks that a computed value kept from deciding."""

    violations: list[Violation] = field(default_factory=list)
    waived: list[tuple[Violation, Waiver]] = field(default_factory=list)
    undecided: list[Violation] = field(default_factory=list)
    checked: int = 0
    """How many (rule, resource) pairs were evaluated."""
    inspected: Counter[str] = field(default_factory=Counter)
    """Per rule name, how many resources it looked at (a stack rule: those of its types, or
    every resource when it names none). A rule at 0 proved nothing about this plan."""

    @property
    def ok(self) -> bool:
        """True when no rule is violated."""
        return not self.violations


def resource_from_plan(entry: Mapping[str, Any]) -> Resource:
    """A `Resource` from one object of an offline plan."""
    return Resource(
        type=str(entry["type"]),
        name=str(entry["name"]),
        props=entry.get("inputs") or {},
        urn=str(entry.get("urn") or ""),
        parent=entry.get("parent"),
        ignore_changes=tuple(entry.get("ignoreChanges") or ()),
    )


def load_plan(path: Path) -> list[Resource]:
    """The resources of `dist/plan-<stack>.json`; `PlanError` with the fix when it is unusable."""
    if not path.is_file():
        raise PlanError(f"plan {path} not found; run `make plan STACK=<stack>` first")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise PlanError(f"plan {path} is not JSON ({err}); rerun `make plan`") from err
    if not isinstance(data, list) or not all(
        isinstance(e, Mapping) and "type" in e and "name" in e for e in data
    ):
        raise PlanError(
            f"plan {path} must be a JSON array of objects with type, name and inputs "
            "(docs/contracts.md section 5); rerun `make plan`"
        )
    return [resource_from_plan(e) for e in data]


def _violation(rule: Rule, resource: Resource | None, message: str) -> Violation:
    return Violation(
        rule=rule.name,
        control=rule.control,
        resource=resource.name if resource else None,
        type=resource.type if resource else None,
        message=message,
    )


def evaluate(
    resources: Sequence[Resource],
    rules: Iterable[Rule] = RULES,
    waivers: tuple[Waiver, ...] = WAIVERS,
) -> Report:
    """Run every rule over every resource it applies to (stack rules once over all).

    Violations a waiver accepts go to `Report.waived`, not `Report.violations`.
    """
    report = Report()
    for rule in rules:
        if isinstance(rule, ResourceRule):
            for resource in resources:
                if not rule.applies_to(resource):
                    continue
                report.checked += 1
                report.inspected[rule.name] += 1
                try:
                    messages = list(rule.check(resource))
                except Unknown as unknown:
                    report.undecided.append(_violation(rule, resource, str(unknown)))
                    continue
                _add(report, [_violation(rule, resource, m) for m in messages], waivers)
        elif isinstance(rule, StackRule):
            report.checked += 1
            report.inspected[rule.name] += sum(
                1 for r in resources if not rule.types or r.type in rule.types
            )
            try:
                found = list(rule.check(resources))
            except Unknown as unknown:
                report.undecided.append(_violation(rule, None, str(unknown)))
                continue
            _add(report, [_violation(rule, r, m) for r, m in found], waivers)
    return report


def _add(report: Report, violations: list[Violation], waivers: tuple[Waiver, ...]) -> None:
    for violation in violations:
        waiver = waiver_for(violation, waivers)
        if waiver is None:
            report.violations.append(violation)
        else:
            report.waived.append((violation, waiver))
