"""Every stack's offline plan (made with the fixture manifest) passes every guardrail."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

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
    assert report.undecided == []


def test_every_rule_inspected_something(plans: dict[str, list]) -> None:
    """A rule that looked at nothing in any stack passes vacuously: it proves nothing."""
    inspected: Counter[str] = Counter()
    for stack in STACKS:
        inspected.update(evaluate(plans[stack]).inspected)
    assert sorted(r.name for r in RULES if inspected[r.name] == 0) == []


def test_every_waiver_is_still_needed(plans: dict[str, list]) -> None:
    used = {w for s in STACKS for _, w in evaluate(plans[s]).waived}
    assert [w.rule for w in WAIVERS if w not in used] == []


def _public_operations(props: dict[str, Any]) -> dict[str, Any]:
    body = json.loads(props["body"])
    for item in body["paths"].values():
        for operation in item.values():
            operation["security"] = []
    return {**props, "body": json.dumps(body)}


def _forwarding_http(props: dict[str, Any]) -> dict[str, Any]:
    if props.get("protocol") != "HTTP":
        return props
    return {**props, "defaultActions": [{"type": "forward", "targetGroupArn": "tg"}]}


BREAKAGES: dict[str, tuple[str, Callable[[dict[str, Any]], dict[str, Any]]]] = {
    # rule -> (resource type whose inputs are changed, the change)
    "apigateway-method-authorized": ("aws:apigateway/restApi:RestApi", _public_operations),
    "apigateway-tls12": (
        "aws:apigateway/domainName:DomainName",
        lambda p: {**p, "securityPolicy": "TLS_1_0"},
    ),
    "alb-http-redirects-to-https": ("aws:lb/listener:Listener", _forwarding_http),
    "rds-not-public": ("aws:rds/instance:Instance", lambda p: {**p, "publiclyAccessible": True}),
    "rds-encrypted": ("aws:rds/instance:Instance", lambda p: {**p, "storageEncrypted": False}),
    "sqs-encrypted": ("aws:sqs/queue:Queue", lambda p: {**p, "sqsManagedSseEnabled": False}),
    "ecr-immutable-tags": (
        "aws:ecr/repository:Repository",
        lambda p: {**p, "imageTagMutability": "MUTABLE"},
    ),
    "alb-drop-invalid-headers": (
        "aws:lb/loadBalancer:LoadBalancer",
        lambda p: {**p, "dropInvalidHeaderFields": False},
    ),
    "lambda-in-vpc": ("aws:lambda/function:Function", lambda p: {**p, "vpcConfig": None}),
    # every alarm's threshold raised: the dead-letter alarm no longer fires on one message
    "dlq-alarm": ("aws:cloudwatch/metricAlarm:MetricAlarm", lambda p: {**p, "threshold": 10}),
    "alarm-actions-stack-topic": (
        "aws:sns/topic:Topic",
        lambda p: {**p, "name": "someone-elses-topic"},
    ),
}


def test_policy_catches_a_broken_stack(plans: dict[str, list]) -> None:
    """The real dev plan with several things broken at once: each trips its own rule, and
    nothing else does."""
    broken = []
    for r in plans["dev"]:
        props = dict(r.props)
        for type_, change in BREAKAGES.values():
            if r.type == type_:
                props = change(props)
        broken.append(type(r)(r.type, r.name, props, r.urn, r.parent, r.ignore_changes))
    report = evaluate(broken)
    assert {v.rule for v in report.violations} == set(BREAKAGES)


PROD_BREAKAGES: dict[str, Callable[[Any], Any]] = {
    # Pulumi moves the aliases again (no ignore_changes): CodeDeploy would be bypassed
    "aliases": lambda r: (
        type(r)(r.type, r.name, r.props, r.urn, r.parent, ())
        if r.type == "aws:lambda/alias:Alias"
        else r
    ),
    # rollback only on a failed deployment, not on the alarm
    "rollback": lambda r: (
        type(r)(
            r.type,
            r.name,
            {
                **r.props,
                "autoRollbackConfiguration": {"enabled": True, "events": ["DEPLOYMENT_FAILURE"]},
            },
            r.urn,
            r.parent,
        )
        if r.type == "aws:codedeploy/deploymentGroup:DeploymentGroup"
        else r
    ),
}


@pytest.mark.parametrize("breakage", sorted(PROD_BREAKAGES))
def test_prod_without_safe_rollouts_is_refused(plans: dict[str, list], breakage: str) -> None:
    """The real prod plan with its rollouts weakened trips the CodeDeploy rule, for each of the
    four runtime functions, and nothing else; the migration (run by `pulumi up`) is exempt."""
    report = evaluate([PROD_BREAKAGES[breakage](r) for r in plans["prod"]])
    assert {v.rule for v in report.violations} == {"lambda-codedeploy-in-prod"}
    assert sorted(v.resource or "" for v in report.violations) == [
        f"rust-on-aws-prod-{n}" for n in ("authorizer", "event", "handler", "timer")
    ]
