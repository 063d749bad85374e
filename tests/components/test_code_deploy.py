"""components/code_deploy.py under mocks.

Independent truths: CodeDeploy's API (compute platform `Lambda`, TrafficRoutingConfig types
`TimeBasedCanary`/`TimeBasedLinear`/`AllAtOnce`, the auto-rollback event names, at most 10
alarms: https://docs.aws.amazon.com/codedeploy/latest/APIReference/API_TrafficRoutingConfig.html,
https://docs.aws.amazon.com/codedeploy/latest/APIReference/API_AutoRollbackConfiguration.html,
https://docs.aws.amazon.com/codedeploy/latest/APIReference/API_AlarmConfiguration.html), the
actions of the AWS-managed AWSCodeDeployRoleForLambda policy, and Pulumi's record of which
resource feeds each input.
"""

from __future__ import annotations

from typing import Any

import pulumi_aws as aws
import pytest

from components.code_deploy import LambdaDeployments, LambdaDeploymentsArgs
from components.rust_lambda import RustLambda, RustLambdaArgs
from plan.view import Plan, policy_json
from tests.components.conftest import SECRET

GROUP = "aws:codedeploy/deploymentGroup:DeploymentGroup"
CONFIG = "aws:codedeploy/deploymentConfig:DeploymentConfig"


def deployments(manifest: Any, *, managed_by: str = "codedeploy", alarms: int = 1, **changes: Any):
    exports: dict[str, Any] = {}

    def program() -> None:
        functions = {
            key: RustLambda(
                f"fleet-{key}",
                RustLambdaArgs(
                    artifact=manifest.functions[key],
                    runtime="provided.al2023",
                    vpc_id="vpc-1",
                    subnet_ids=["subnet-a"],
                    db_secret_arn=SECRET,
                    alias_managed_by=managed_by,  # type: ignore[arg-type]
                ),
            )
            for key in ("handler", "timer")
        }
        rollback = {
            key: [
                aws.cloudwatch.MetricAlarm(
                    f"fleet-{key}-errors-{i}",
                    name=f"fleet-{key}-errors-{i}",
                    namespace="AWS/Lambda",
                    metric_name="Errors",
                    dimensions={"FunctionName": fn.function_name},
                    statistic="Sum",
                    period=60,
                    evaluation_periods=1,
                    threshold=1,
                    comparison_operator="GreaterThanOrEqualToThreshold",
                )
                for i in range(alarms)
            ]
            for key, fn in functions.items()
        }
        base: dict[str, Any] = {"functions": functions, "rollback_alarms": rollback}
        base.update(changes)
        component = LambdaDeployments("fleet-deploy", LambdaDeploymentsArgs(**base))
        component.plan.apply(exports.update)

    return program, exports


def test_one_lambda_application_and_a_group_per_function(run, manifest) -> None:
    program, exports = deployments(manifest)
    plan: Plan = run(program)
    app = plan.inputs("aws:codedeploy/application:Application")
    assert (app["name"], app["computePlatform"]) == ("fleet-deploy", "Lambda")
    groups = {g["inputs"]["deploymentGroupName"]: g for g in plan.of(GROUP)}
    assert sorted(groups) == ["fleet-handler", "fleet-timer"]
    for name, group in groups.items():
        inputs = group["inputs"]
        # named after the function: made from its name, not a copy of it
        assert [e["name"] for e in plan.fed_by(group, "deploymentGroupName")] == [name]
        assert inputs["appName"] == "fleet-deploy"
        assert inputs["deploymentStyle"] == {
            "deploymentType": "BLUE_GREEN",
            "deploymentOption": "WITH_TRAFFIC_CONTROL",
        }
        assert inputs["alarmConfiguration"] == {
            "enabled": True,
            "alarms": [f"{name}-errors-0"],
            "ignorePollAlarmFailure": False,
        }
        assert [e["name"] for e in plan.fed_by(group, "alarmConfiguration")] == [f"{name}-errors-0"]
        assert inputs["autoRollbackConfiguration"] == {
            "enabled": True,
            "events": [
                "DEPLOYMENT_FAILURE",
                "DEPLOYMENT_STOP_ON_ALARM",
                "DEPLOYMENT_STOP_ON_REQUEST",
            ],
        }
        assert [e["type"] for e in plan.fed_by(group, "deploymentConfigName")] == [CONFIG]
    # what the rollout command reads: the published version, from the function itself
    assert exports["functions"]["handler"] == {
        "function_name": "fleet-handler",
        "alias": "live",
        "version": "1",
        "deployment_group": "fleet-handler",
    }


@pytest.mark.parametrize(
    ("changes", "name", "routing", "shift"),
    [
        ({"strategy": "canary", "percent": 10, "interval_minutes": 5},
         "fleet-deploy-canary-10pct-5min",
         {"type": "TimeBasedCanary", "timeBasedCanary": {"percentage": 10, "interval": 5}}, 5),
        ({"strategy": "linear", "percent": 25, "interval_minutes": 2},
         "fleet-deploy-linear-25pct-every-2min",
         {"type": "TimeBasedLinear", "timeBasedLinear": {"percentage": 25, "interval": 2}}, 6),
        ({"strategy": "all-at-once"}, "fleet-deploy-all-at-once", {"type": "AllAtOnce"}, 0),
    ],
)  # fmt: skip
def test_the_deployment_configuration_of_each_strategy(
    run, manifest, changes: dict[str, Any], name: str, routing: dict[str, Any], shift: int
) -> None:
    program, exports = deployments(manifest, **changes)
    plan = run(program)
    config = plan.inputs(CONFIG)
    assert config == {
        "deploymentConfigName": name,
        "computePlatform": "Lambda",
        "trafficRoutingConfig": routing,
    }
    assert {g["inputs"]["deploymentConfigName"] for g in plan.of(GROUP)} == {name}
    assert (exports["shift_minutes"], exports["timeout_minutes"]) == (shift, shift + 15)


def test_codedeploy_may_move_these_aliases_and_read_these_alarms_only(run, manifest) -> None:
    program, _ = deployments(manifest)
    plan = run(program)
    role = plan.one("aws:iam/role:Role", "fleet-deploy-role")
    trust = policy_json(role["inputs"]["assumeRolePolicy"])["Statement"]
    assert [s["Principal"] for s in trust] == [{"Service": "codedeploy.amazonaws.com"}]
    policy = plan.one("aws:iam/rolePolicy:RolePolicy", "fleet-deploy-policy")
    lambda_, alarms = policy_json(policy["inputs"]["policy"])["Statement"]
    # the traffic-shifting actions of AWSCodeDeployRoleForLambda, without its "*"
    assert sorted(lambda_["Action"]) == [
        "lambda:GetAlias",
        "lambda:GetProvisionedConcurrencyConfig",
        "lambda:UpdateAlias",
    ]
    assert all(r.endswith(":live") for r in lambda_["Resource"])
    assert alarms["Action"] == "cloudwatch:DescribeAlarms"
    assert len(alarms["Resource"]) == 2
    fed = {e["name"] for e in plan.fed_by(policy, "policy")}
    assert fed == {"fleet-handler-live", "fleet-timer-live", "fleet-handler-errors-0",
                   "fleet-timer-errors-0"}  # fmt: skip
    # the groups wait for the role's permissions
    for group in plan.of(GROUP):
        assert policy["urn"] in group["dependsOn"]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"managed_by": "pulumi"},
         "LambdaDeployments fleet-deploy: function handler must be built with "
         "alias_managed_by='codedeploy', got 'pulumi'; otherwise Pulumi and CodeDeploy both "
         "move its alias"),
        ({"alarms": 0},
         "LambdaDeployments fleet-deploy: function handler needs at least one rollback alarm "
         "(its Errors alarm), got none; pass Monitoring.errors_alarms"),
        ({"alarms": 11},
         "LambdaDeployments fleet-deploy: function handler may have at most 10 rollback alarms "
         "(CodeDeploy's limit), got 11; combine them in a composite alarm"),
        ({"strategy": "blue-green"},
         "LambdaDeployments fleet-deploy: strategy must be one of ('canary', 'linear', "
         "'all-at-once'), got 'blue-green'"),
        ({"percent": 100},
         "LambdaDeployments fleet-deploy: percent must be in 1..99 for canary, got 100"),
        ({"strategy": "linear", "percent": 60},
         "LambdaDeployments fleet-deploy: percent must be in 1..50 for linear, got 60"),
        ({"interval_minutes": 0},
         "LambdaDeployments fleet-deploy: interval_minutes must be in 1..120, got 0"),
        ({"strategy": "linear", "percent": 5, "interval_minutes": 10},
         "LambdaDeployments fleet-deploy: a rollout must shift within 120 minutes, got 190 (5% "
         "every 10 min); raise percent or shorten interval_minutes"),
    ],
)  # fmt: skip
def test_bad_arguments_are_refused(run, manifest, kwargs: dict[str, Any], message: str) -> None:
    program, _ = deployments(manifest, **kwargs)
    with pytest.raises(ValueError) as info:
        run(program)
    assert str(info.value) == message


def test_alarms_for_a_function_not_deployed_here_are_refused(run, manifest) -> None:
    def program() -> None:
        fn = RustLambda(
            "fleet-handler",
            RustLambdaArgs(
                artifact=manifest.functions["handler"],
                runtime="provided.al2023",
                vpc_id="vpc-1",
                subnet_ids=["subnet-a"],
                db_secret_arn=SECRET,
                alias_managed_by="codedeploy",
            ),
        )
        alarm = aws.cloudwatch.MetricAlarm("a", comparison_operator="GreaterThanThreshold")
        LambdaDeployments(
            "fleet-deploy",
            LambdaDeploymentsArgs(
                functions={"handler": fn}, rollback_alarms={"handler": [alarm], "gone": [alarm]}
            ),
        )

    with pytest.raises(ValueError) as info:
        run(program)
    assert str(info.value) == (
        "LambdaDeployments fleet-deploy: rollback_alarms names functions that are not deployed "
        "here, got ['gone']"
    )
