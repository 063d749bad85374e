"""A function the program never heard of: declared in its crate, it is planned from the manifest.

`tests/fixtures/manifest-reporter.json` is the fixture manifest plus `reporter`, built from the
crate `tests/fixtures/reporter/` (schedule `rate(1 day)`, no database). Nothing in `__main__.py`,
`components/` or the stack files names it. What AWS needs for a scheduled function, and what a
function outside the VPC must not get, is checked against AWS's documentation, not against the
code that makes it:

- an EventBridge schedule invokes a function through a resource-based policy statement for the
  principal `events.amazonaws.com`, scoped by the rule's ARN
  (https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-use-resource-based.html#eb-lambda-permissions),
  `arn:aws:events:<region>:<account>:rule/<name>`
  (https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazoneventbridge.html#amazoneventbridge-resources-for-iam-policies);
- a function attached to a VPC needs `vpcConfig` and the ENI actions of
  `AWSLambdaVPCAccessExecutionRole`
  (https://docs.aws.amazon.com/lambda/latest/dg/configuration-vpc.html#configuration-vpc-permissions);
  one without a database gets neither, and no way into the database's security group.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from plan.diff import diff_plans
from plan.record import run_plan
from plan.view import Plan, policy_json
from policy.engine import evaluate, resource_from_plan

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures"
STACKS = ("dev", "sandbox", "prod")
FN = "aws:lambda/function:Function"
RULE_ARN = re.compile(r"arn:aws:events:eu-west-1:\d{12}:rule/[\w.-]+")
#: `AWSLambdaVPCAccessExecutionRole`'s actions (the page above).
ENI_ACTIONS = {
    "ec2:CreateNetworkInterface",
    "ec2:DescribeNetworkInterfaces",
    "ec2:DeleteNetworkInterface",
}


def _granted(plan: Plan, role: dict[str, Any]) -> set[str]:
    """Every action the role's inline policies allow."""
    actions: set[str] = set()
    for policy in plan.of("aws:iam/rolePolicy:RolePolicy"):
        if plan.fed_by(policy, "role") != [role]:
            continue
        for statement in policy_json(policy["inputs"]["policy"])["Statement"]:
            action = statement["Action"]
            actions.update([action] if isinstance(action, str) else action)
    return actions


@pytest.fixture(scope="module")
def plans() -> dict[tuple[str, str], list[dict[str, Any]]]:
    return {
        (stack, which): run_plan(stack, root=ROOT, manifest=FIXTURES / f"{which}.json")
        for stack in STACKS
        for which in ("manifest", "manifest-reporter")
    }


def test_the_program_does_not_name_it() -> None:
    """The premise: only the crate's Cargo.toml (and the fixture built from it) knows it."""
    sources = [ROOT / "__main__.py", *(ROOT / "components").rglob("*.py")]
    sources += [*ROOT.glob("Pulumi*.yaml")]
    assert [p.name for p in sources if "reporter" in p.read_text(encoding="utf-8")] == []
    declared = (FIXTURES / "reporter" / "Cargo.toml").read_text(encoding="utf-8")
    assert 'schedule = "rate(1 day)"' in declared


@pytest.mark.parametrize("stack", STACKS)
def test_adding_it_adds_only_its_own_resources(plans, stack: str) -> None:
    diff = diff_plans(plans[stack, "manifest"], plans[stack, "manifest-reporter"])
    assert diff.of_kind("removed") == []
    added = diff.of_kind("added")
    assert [r.name for r in added if "-reporter" not in r.name] == []
    assert sorted(r.type for r in added) == sorted(
        [
            FN,
            "rust-on-aws:rust_lambda:RustLambda",
            "aws:lambda/alias:Alias",
            "aws:cloudwatch/logGroup:LogGroup",
            "aws:iam/role:Role",
            "aws:iam/rolePolicy:RolePolicy",  # logs
            "aws:cloudwatch/eventRule:EventRule",
            "aws:cloudwatch/eventTarget:EventTarget",
            "aws:lambda/permission:Permission",
            "aws:lambda/functionEventInvokeConfig:FunctionEventInvokeConfig",
            "aws:iam/rolePolicy:RolePolicy",  # failures to the DLQ
            # watched (Errors, Throttles, Duration; its rule's failed invocations) and rolled
            # out like the others (a CodeDeploy deployment group rolling back on Errors)
            *["aws:cloudwatch/metricAlarm:MetricAlarm"] * 4,
            "aws:codedeploy/deploymentGroup:DeploymentGroup",
        ]
    )
    # The shared resources that change, in place: the DLQ admits the new rule's dead letters,
    # the dashboard draws its graphs, CodeDeploy's role may move its alias.
    changed = diff.of_kind("changed")
    assert sorted(r.type for r in changed) == [
        "aws:cloudwatch/dashboard:Dashboard",
        "aws:iam/rolePolicy:RolePolicy",
        "aws:sqs/queuePolicy:QueuePolicy",
    ]
    assert not any(r.replaces for r in changed)
    head = Plan(plans[stack, "manifest-reporter"])
    [rule] = [r for r in head.of("aws:cloudwatch/eventRule:EventRule") if "reporter" in r["name"]]
    queue_policy = head.one("aws:sqs/queuePolicy:QueuePolicy")
    assert rule in head.fed_by(queue_policy, "policy")
    [statement] = policy_json(queue_policy["inputs"]["policy"])["Statement"]
    sources = statement["Condition"]["ArnEquals"]["aws:SourceArn"]
    assert len(sources) == len(head.of("aws:cloudwatch/eventRule:EventRule"))
    assert all(RULE_ARN.fullmatch(s) for s in sources)


@pytest.mark.parametrize("stack", STACKS)
def test_its_schedule_invokes_its_live_alias(plans, stack: str) -> None:
    plan = Plan(plans[stack, "manifest-reporter"])
    [rule] = [r for r in plan.of("aws:cloudwatch/eventRule:EventRule") if "reporter" in r["name"]]
    assert rule["inputs"]["scheduleExpression"] == "rate(1 day)"
    assert "eventPattern" not in rule["inputs"]
    [alias] = [a for a in plan.of("aws:lambda/alias:Alias") if "reporter" in a["name"]]
    [function] = [f for f in plan.of(FN) if "reporter" in f["name"]]

    [target] = [
        t
        for t in plan.of("aws:cloudwatch/eventTarget:EventTarget")
        if plan.fed_by(t, "rule") == [rule]
    ]
    assert plan.fed_by(target, "arn") == [alias]
    [permission] = [
        p
        for p in plan.of("aws:lambda/permission:Permission")
        if plan.fed_by(p, "sourceArn") == [rule]
    ]
    assert permission["inputs"]["principal"] == "events.amazonaws.com"
    assert permission["inputs"]["action"] == "lambda:InvokeFunction"
    assert RULE_ARN.fullmatch(permission["inputs"]["sourceArn"])
    assert plan.fed_by(permission, "function") == [function]
    assert plan.fed_by(permission, "qualifier") == [alias]
    # Function errors of an asynchronous invoke reach the DLQ only through the function's own
    # invoke configuration (the rule's DLQ sees delivery failures only).
    [config] = [
        c
        for c in plan.of("aws:lambda/functionEventInvokeConfig:FunctionEventInvokeConfig")
        if plan.fed_by(c, "functionName") == [function]
    ]
    assert plan.fed_by(config, "qualifier") == [alias]
    [dlq] = plan.of("aws:sqs/queue:Queue")
    assert plan.fed_by(config, "destinationConfig") == [dlq]
    assert plan.fed_by(target, "deadLetterConfig") == [dlq]


@pytest.mark.parametrize("stack", STACKS)
def test_without_a_database_it_stays_outside_the_vpc(plans, stack: str) -> None:
    plan = Plan(plans[stack, "manifest-reporter"])
    [function] = [f for f in plan.of(FN) if "reporter" in f["name"]]
    inputs = function["inputs"]
    assert "vpcConfig" not in inputs
    variables = inputs["environment"]["variables"]
    assert sorted(v for v in variables if v.startswith("DB_")) == []
    # `${stack}` in the declaration is the stack's name.
    assert variables["REPORT_TITLE"] == f"daily fleet report ({stack})"
    assert (inputs["memorySize"], inputs["timeout"]) == (128, 30)

    [role] = plan.fed_by(function, "role")
    actions = _granted(plan, role)
    assert "logs:PutLogEvents" in actions  # the policy was found
    assert actions & ENI_ACTIONS == set()
    assert sorted(a for a in actions if a.startswith("secretsmanager:")) == []
    attached = [
        a
        for a in plan.of("aws:iam/rolePolicyAttachment:RolePolicyAttachment")
        if plan.fed_by(a, "role") == [role]
    ]
    assert attached == []
    # No security group of its own, so none the database admits.
    groups = plan.of("aws:ec2/securityGroup:SecurityGroup")
    assert [g["name"] for g in groups if "reporter" in g["name"]] == []
    ingress = plan.of("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule")
    assert [r["name"] for r in ingress if "reporter" in r["name"]] == []


def test_a_function_with_a_database_gets_both(plans) -> None:
    """The contrast that shows the checks above can fail: the timer declares a database."""
    plan = Plan(plans["dev", "manifest-reporter"])
    [timer] = [f for f in plan.of(FN) if f["name"].endswith("-timer")]
    assert timer["inputs"]["vpcConfig"]["subnetIds"]
    [group] = [
        g
        for g in plan.fed_by(timer, "vpcConfig")
        if g["type"] == "aws:ec2/securityGroup:SecurityGroup"
    ]
    ingress = plan.of("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule")
    [admitted] = [r for r in ingress if plan.fed_by(r, "referencedSecurityGroupId") == [group]]
    assert admitted["inputs"]["fromPort"] == 5432
    [role] = plan.fed_by(timer, "role")
    assert _granted(plan, role) >= ENI_ACTIONS
    assert "secretsmanager:GetSecretValue" in _granted(plan, role)


@pytest.mark.parametrize("stack", STACKS)
def test_the_guardrails_pass_with_it(plans, stack: str) -> None:
    report = evaluate([resource_from_plan(e) for e in plans[stack, "manifest-reporter"]])
    assert [v.line() for v in report.violations] == []
    assert report.undecided == []
    # The lambda rules looked at one more function than without it.
    before = evaluate([resource_from_plan(e) for e in plans[stack, "manifest"]])
    grew = sorted(r for r in report.inspected if report.inspected[r] > before.inspected[r])
    assert [r for r in grew if r.startswith("lambda-")], grew


def test_the_manifest_records_what_the_crate_declares() -> None:
    manifest = json.loads((FIXTURES / "manifest-reporter.json").read_text(encoding="utf-8"))
    declaration = manifest["functions"]["reporter"]["declaration"]
    assert declaration["trigger"] == "schedule"
    assert declaration["schedule"] == "rate(1 day)"
    assert declaration["database"] is False
