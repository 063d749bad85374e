"""`python -m rollout` end to end: moto's server for Lambda, CloudWatch and IAM, and the CodeDeploy
fake (tests/rollout/fake_codedeploy.py: moto's CodeDeploy never runs a deployment, see
`test_moto_codedeploy_records_but_never_deploys`) seeded with the stack plan's own deployment
groups, configurations and alarm names. The alias states are read back from moto's Lambda."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.rollout.conftest import Deployed, Watcher

RUNTIME = ("authorizer", "event", "handler", "timer")


def test_canary_shifts_a_share_then_everything_and_succeeds(deployed: Any) -> None:
    stack: Deployed = deployed("prod")
    with Watcher(stack, "handler") as watch:
        done = stack.rollout("--outputs", str(stack.outputs()))
    assert done.returncode == 0, done.stdout + done.stderr
    # prod's configuration (Pulumi.prod.yaml): 10% for one interval, then all
    assert watch.states == [("1", {}), ("1", {"2": 0.1}), ("2", {})]
    for key in RUNTIME:
        assert stack.alias(key) == ("2", {})
    assert "10% on version 2, the rest on version 1" in done.stdout
    assert "rollout: 4 succeeded" in done.stdout
    created = [e for e in stack.fake.exchanges if e["operation"] == "CreateDeployment"]
    assert len(created) == 4


def test_an_errors_alarm_during_the_canary_rolls_back_and_fails(deployed: Any) -> None:
    stack: Deployed = deployed("prod")
    alarm = stack.errors_alarm("handler")

    def errors_fire() -> None:  # the new version's errors, as CloudWatch would raise them
        stack.cloudwatch.set_alarm_state(
            AlarmName=alarm, StateValue="ALARM", StateReason="forced by the test"
        )

    with Watcher(stack, "handler", on_split=errors_fire) as watch:
        done = stack.rollout("--outputs", str(stack.outputs()))
    assert done.returncode == 1, done.stdout + done.stderr
    # the canary share moved, then CodeDeploy's rollback put every request back on version 1
    assert watch.states == [("1", {}), ("1", {"2": 0.1}), ("1", {})]
    assert stack.alias("handler") == ("1", {})
    for key in ("authorizer", "event", "timer"):  # their own alarms stayed OK
        assert stack.alias(key) == ("2", {})
    assert "rolling back in d-" in done.stdout
    assert "rollout: handler rolled back: Stopped: ALARM_ACTIVE" in done.stderr
    assert "traffic back on version 1" in done.stderr
    assert alarm in done.stderr


def test_an_alarm_already_firing_stops_before_any_traffic_moves(deployed: Any) -> None:
    stack: Deployed = deployed("prod")
    stack.cloudwatch.set_alarm_state(
        AlarmName=stack.errors_alarm("timer"), StateValue="ALARM", StateReason="test"
    )
    with Watcher(stack, "timer") as watch:
        done = stack.rollout("--outputs", str(stack.outputs()), "--only", "timer")
    assert done.returncode == 1
    assert watch.states == [("1", {})]
    assert "timer rolled back" in done.stderr


@pytest.mark.parametrize(
    ("stack_name", "expected"),
    [
        # sandbox: linear 25% a minute (Pulumi.sandbox.yaml)
        ("sandbox", [("1", {}), ("1", {"2": 0.25}), ("1", {"2": 0.5}), ("1", {"2": 0.75}),
                     ("2", {})]),
        # dev: all at once, never split
        ("dev", [("1", {}), ("2", {})]),
    ],
)  # fmt: skip
def test_each_stack_shifts_as_its_configuration_says(
    deployed: Any, stack_name: str, expected: list[Any]
) -> None:
    stack: Deployed = deployed(stack_name)
    with Watcher(stack, "event") as watch:
        done = stack.rollout("--outputs", str(stack.outputs()), "--only", "event")
    assert done.returncode == 0, done.stdout + done.stderr
    assert watch.states == expected


def test_nothing_changed_starts_nothing_and_exits_zero(deployed: Any) -> None:
    stack: Deployed = deployed("prod")
    done = stack.rollout("--outputs", str(stack.outputs(dict.fromkeys(RUNTIME, "1"))))
    assert done.returncode == 0, done.stderr
    assert "rollout: 4 unchanged" in done.stdout
    assert [e["operation"] for e in stack.fake.exchanges] == []


def test_a_deployment_past_its_timeout_is_stopped_and_rolled_back(deployed: Any) -> None:
    stack: Deployed = deployed("prod")  # a 5 s canary here, and 0.6 s allowed
    done = stack.rollout(
        "--outputs", str(stack.outputs()), "--only", "handler", "--timeout-minutes", "0.01"
    )
    assert done.returncode == 1
    assert "handler timed out: Stopped: MANUAL_STOP" in done.stderr
    assert stack.alias("handler") == ("1", {})
    stops = [e for e in stack.fake.exchanges if e["operation"] == "StopDeployment"]
    assert [s["request"]["autoRollbackEnabled"] for s in stops] == [True]


def test_an_alias_left_half_shifted_is_refused(deployed: Any) -> None:
    stack: Deployed = deployed("prod")
    stack.lambda_client.update_alias(
        FunctionName=stack.functions["authorizer"],
        Name="live",
        FunctionVersion="1",
        RoutingConfig={"AdditionalVersionWeights": {"2": 0.3}},
    )
    done = stack.rollout("--outputs", str(stack.outputs()), "--only", "authorizer")
    assert done.returncode == 1
    assert "authorizer refused: alias live splits traffic (30% on version 2" in done.stderr
    assert "aws deploy stop-deployment" in done.stderr
    assert "CreateDeployment" not in {e["operation"] for e in stack.fake.exchanges}


def test_the_appspec_names_the_alias_and_both_versions(deployed: Any) -> None:
    """What CodeDeploy receives, against AWS's AppSpec reference for Lambda
    (https://docs.aws.amazon.com/codedeploy/latest/userguide/reference-appspec-file-structure-resources.html)."""
    stack: Deployed = deployed("dev")
    done = stack.rollout("--outputs", str(stack.outputs()), "--only", "handler")
    assert done.returncode == 0, done.stderr
    [create] = [e for e in stack.fake.exchanges if e["operation"] == "CreateDeployment"]
    request = create["request"]
    assert request["applicationName"] == "rust-on-aws-dev-deploy"
    assert request["deploymentGroupName"] == "rust-on-aws-dev-handler"
    assert request["revision"]["revisionType"] == "AppSpecContent"
    spec = json.loads(request["revision"]["appSpecContent"]["content"])
    assert spec == {
        "version": 0.0,
        "Resources": [
            {
                "rust-on-aws-dev-handler": {
                    "Type": "AWS::Lambda::Function",
                    "Properties": {
                        "Name": "rust-on-aws-dev-handler",
                        "Alias": "live",
                        "CurrentVersion": "1",
                        "TargetVersion": "2",
                    },
                }
            }
        ],
    }


def test_moto_codedeploy_records_but_never_deploys(aws: Any) -> None:
    """Why the rollout tests need the fake: moto 5's CodeDeploy accepts the deployment, and
    then nothing happens (no traffic moves, the status stays Created), and it cannot stop one."""
    lam, cd, iam = aws("lambda"), aws("codedeploy"), aws("iam")
    role = iam.create_role(RoleName="r", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    lam.create_function(
        FunctionName="f", Runtime="provided.al2023", Role=role, Handler="bootstrap",
        Code={"ZipFile": b"PK\x05\x06" + b"\x00" * 18}, Publish=True,
    )  # fmt: skip
    lam.create_alias(FunctionName="f", Name="live", FunctionVersion="1")
    lam.publish_version(FunctionName="f")
    cd.create_application(applicationName="app", computePlatform="Lambda")
    cd.create_deployment_group(applicationName="app", deploymentGroupName="f", serviceRoleArn=role)
    from rollout.appspec import revision  # noqa: PLC0415

    deployment = cd.create_deployment(
        applicationName="app", deploymentGroupName="f", revision=revision("f", "live", "1", "2")
    )["deploymentId"]
    time.sleep(1.0)
    assert cd.get_deployment(deploymentId=deployment)["deploymentInfo"]["status"] == "Created"
    assert lam.get_alias(FunctionName="f", Name="live")["FunctionVersion"] == "1"
    with pytest.raises((ClientError, NotImplementedError)):
        cd.stop_deployment(deploymentId=deployment, autoRollbackEnabled=True)
