"""The CrossGuard wrappers and the offline runner call the same rule functions."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pulumi_policy import (
    EnforcementLevel,
    Policy,
    PolicyCustomTimeouts,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE, unknown_checking_proxy

from policy import offline
from policy.pack import plain, policies
from policy.rules import RULES

URN = "urn:pulumi:prod::rust-on-aws::aws:rds/instance:Instance::db"


def _opts() -> PolicyResourceOptions:
    return PolicyResourceOptions(
        protect=False,
        ignore_changes=[],
        delete_before_replace=None,
        aliases=[],
        additional_secret_outputs=[],
        custom_timeouts=PolicyCustomTimeouts(0, 0, 0),
    )


def _by_name() -> dict[str, Policy]:
    return {p.name: p for p in policies()}


def test_one_mandatory_policy_per_rule() -> None:
    pack = policies()
    assert [p.name for p in pack] == [r.name for r in RULES]
    assert {p.enforcement_level for p in pack} == {EnforcementLevel.MANDATORY}


def test_plain_turns_pulumi_unknowns_into_the_plan_marker() -> None:
    props = unknown_checking_proxy({"a": UNKNOWN_STRING_VALUE, "b": [{"c": UNKNOWN_STRING_VALUE}]})
    assert plain(props) == {"a": "<computed>", "b": [{"c": "<computed>"}]}


def _validate(policy_name: str, type_: str, props: dict, urn: str = URN) -> list[str]:
    policy = _by_name()[policy_name]
    assert isinstance(policy, ResourceValidationPolicy)
    reported: list[str] = []
    args = ResourceValidationArgs(
        type_, unknown_checking_proxy(props), urn, urn.rsplit("::", 1)[-1], _opts(), None
    )

    def report(message: str, _urn: str | None = None) -> None:
        reported.append(message)

    policy.validate(args, report)
    return reported


def test_resource_policy_reports_through_pulumi_policy() -> None:
    bad = {"storageEncrypted": False, "multiAz": False}
    assert _validate("rds-encrypted", "aws:rds/instance:Instance", bad) == [
        "db: storage must be encrypted; got storageEncrypted=False; set storage_encrypted=True"
    ]
    assert _validate("rds-multi-az-in-prod", "aws:rds/instance:Instance", bad)
    dev = URN.replace(":prod:", ":dev:")
    assert _validate("rds-multi-az-in-prod", "aws:rds/instance:Instance", bad, urn=dev) == []
    assert _validate("rds-encrypted", "aws:rds/instance:Instance", {"storageEncrypted": True}) == []


def test_resource_policy_ignores_other_types_and_unknowns() -> None:
    assert _validate("rds-encrypted", "aws:s3/bucket:Bucket", {}) == []
    unknown = {"containerDefinitions": UNKNOWN_STRING_VALUE, "networkMode": "awsvpc"}
    td = "aws:ecs/taskDefinition:TaskDefinition"
    assert _validate("ecs-containers-unprivileged", td, unknown) == []


def test_stack_policy_reports_the_resource_urn() -> None:
    policy = _by_name()["ecr-lifecycle-policy"]
    assert isinstance(policy, StackValidationPolicy)
    urn = "urn:pulumi:dev::rust-on-aws::aws:ecr/repository:Repository::repo"
    repo = PolicyResource(
        "aws:ecr/repository:Repository",
        unknown_checking_proxy({"name": "api"}),
        urn,
        "repo",
        _opts(),
        None,
        None,
        [],
        {},
    )
    reported: list[tuple[str, str | None]] = []

    def report(message: str, urn: str | None = None) -> None:
        reported.append((message, urn))

    policy.validate(StackValidationArgs([repo]), report)
    assert len(reported) == 1
    assert reported[0][1] == urn


def _write(path: Path, resources: list[dict]) -> Path:
    path.write_text(json.dumps(resources), encoding="utf-8")
    return path


def test_offline_runner_fails_on_a_violating_plan(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plan = _write(
        tmp_path / "plan-dev.json",
        [
            {
                "type": "aws:apigateway/method:Method",
                "name": "get-devices",
                "parent": None,
                "urn": "urn:pulumi:dev::rust-on-aws::aws:apigateway/method:Method::get-devices",
                "inputs": {"authorization": "NONE", "httpMethod": "GET"},
            }
        ],
    )
    assert offline.main([str(plan)]) == 1
    out = capsys.readouterr().out
    assert "[apigateway-method-authorized / APIGateway.8] get-devices" in out
    assert "FAILED" in out


def test_offline_runner_passes_a_clean_plan(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plan = _write(
        tmp_path / "plan-dev.json",
        [
            {
                "type": "aws:apigateway/method:Method",
                "name": "get-devices",
                "parent": None,
                "inputs": {"authorization": "CUSTOM", "authorizerId": "<computed>"},
            }
        ],
    )
    assert offline.main([str(plan)]) == 0
    assert "ok: " in capsys.readouterr().out


@pytest.mark.parametrize(
    ("content", "needle"),
    [(None, "not found; run `make plan"), ("{", "is not JSON"), ('{"a": 1}', "JSON array")],
)
def test_offline_runner_rejects_unusable_plans(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str | None, needle: str
) -> None:
    plan = tmp_path / "plan-dev.json"
    if content is not None:
        plan.write_text(content, encoding="utf-8")
    assert offline.main([str(plan)]) == 2
    assert needle in capsys.readouterr().err


def test_a_waiver_accepts_only_what_it_names() -> None:
    from policy.engine import evaluate  # noqa: PLC0415
    from policy.model import Resource  # noqa: PLC0415
    from policy.waivers import Waiver  # noqa: PLC0415

    stage = "aws:apigateway/stage:Stage"
    props = {"accessLogSettings": {"destinationArn": "arn", "format": "x"}}
    waiver = Waiver("apigateway-stage-xray", "app-*-stage", "test")
    waived = Resource(stage, "app-dev-stage", props)
    other = Resource(stage, "other-stage", props)
    report = evaluate([waived, other], waivers=(waiver,))
    assert [(v.rule, v.resource) for v, _ in report.waived] == [
        ("apigateway-stage-xray", "app-dev-stage")
    ]
    assert [(v.rule, v.resource) for v in report.violations] == [
        ("apigateway-stage-xray", "other-stage")
    ]
    assert [v.resource for v in evaluate([waived], waivers=()).violations] == ["app-dev-stage"]


def _policy_resource(type_: str, name: str, props: dict, ignore: list[str] | None = None):
    opts = _opts()
    opts.ignore_changes = ignore or []
    urn = f"urn:pulumi:prod::rust-on-aws::{type_}::{name}"
    return PolicyResource(type_, unknown_checking_proxy(props), urn, name, opts, None, None, [], {})


def test_stack_policies_see_the_resource_options() -> None:
    """In a real preview the CodeDeploy rule reads the alias's ignore_changes from
    pulumi-policy's resource options (the offline plan carries them as ignoreChanges)."""
    policy = _by_name()["lambda-codedeploy-in-prod"]
    assert isinstance(policy, StackValidationPolicy)
    errors = "rust-on-aws-prod-handler-errors"
    stack = [
        _policy_resource("aws:lambda/function:Function", "handler",
                         {"name": "rust-on-aws-prod-handler"}),
        _policy_resource("aws:cloudwatch/metricAlarm:MetricAlarm", "errors",
                         {"name": errors, "namespace": "AWS/Lambda", "metricName": "Errors",
                          "dimensions": {"FunctionName": "rust-on-aws-prod-handler"}}),
        _policy_resource("aws:codedeploy/application:Application", "app",
                         {"name": "app", "computePlatform": "Lambda"}),
        _policy_resource("aws:codedeploy/deploymentGroup:DeploymentGroup", "group",
                         {"appName": "app", "deploymentGroupName": "rust-on-aws-prod-handler",
                          "alarmConfiguration": {"enabled": True, "alarms": [errors]},
                          "autoRollbackConfiguration": {"enabled": True,
                                                        "events": ["DEPLOYMENT_STOP_ON_ALARM"]}}),
    ]  # fmt: skip
    alias = {"name": "live", "functionName": "rust-on-aws-prod-handler", "functionVersion": "3"}

    def reported(ignore: list[str]) -> list[str]:
        found: list[str] = []
        resources = [*stack, _policy_resource("aws:lambda/alias:Alias", "live", alias, ignore)]

        def report(message: str, _urn: str | None = None) -> None:
            found.append(message)

        policy.validate(StackValidationArgs(resources), report)
        return found

    assert reported(["functionVersion", "routingConfig"]) == []
    [message] = reported([])
    assert "Pulumi must leave alias live's version to CodeDeploy; got ignore_changes=[]" in message
