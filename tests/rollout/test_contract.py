"""The contract checker and the fake's protocol: each check has an input that trips it."""

from __future__ import annotations

import json

import pytest

from tests.rollout.contract import CODEDEPLOY, operation, problems
from tests.rollout.fake_codedeploy import Config, FakeCodeDeploy


@pytest.mark.parametrize(
    ("shape", "value", "expected"),
    [
        ("DeploymentInfo", {"status": "Done"}, "'Done' is not one of DeploymentStatus's values"),
        ("DeploymentInfo", {"deploymentID": "d-1"}, "$.deploymentID: not a member of"),
        ("DeploymentInfo", {"createTime": "yesterday"}, "must be epoch seconds"),
        ("DeploymentInfo", {"rollbackInfo": []}, "RollbackInfo must be an object"),
        ("ErrorInformation", {"code": "OOPS"}, "'OOPS' is not one of ErrorCode's values"),
        ("RevisionLocation", {"revisionType": "Zip"}, "is not one of RevisionLocationType"),
        ("AutoRollbackConfiguration", {"enabled": "yes"}, "must be true or false"),
    ],
)  # fmt: skip
def test_the_checker_refuses_what_the_model_does_not_allow(
    shape: str, value: object, expected: str
) -> None:
    found = problems(CODEDEPLOY.shape_for(shape), value)
    assert any(expected in p for p in found), found


def test_the_checker_needs_required_members() -> None:
    found = problems(operation("CreateDeployment").input_shape, {"description": "x"})
    assert found == ["$.applicationName: required by CreateDeploymentInput, missing"]


def test_the_fake_answers_unknown_input_as_codedeploy_would() -> None:
    fake = FakeCodeDeploy(lambda_client=None, cloudwatch=None)
    status, body = fake.handle("CodeDeploy_20141006.GetDeployment", json.dumps({}).encode())
    assert status == 400
    assert body["__type"] == "ValidationError"
    assert fake.violations == [
        "GetDeployment request.deploymentId: required by GetDeploymentInput, missing"
    ]
    fake.violations.clear()
    status, body = fake.handle("CodeDeploy_20141006.DeleteApplication", b'{"applicationName": "a"}')
    assert fake.violations == [
        "DeleteApplication: not an operation the rollout command should call"
    ]
    status, _ = fake.handle("Nope.Op", b"{}")
    assert status == 400


@pytest.mark.parametrize(
    ("config", "shares"),
    [
        # CodeDeploy's predefined Lambda configurations, as its user guide describes them
        # (https://docs.aws.amazon.com/codedeploy/latest/userguide/deployment-configurations.html)
        (Config("c", "TimeBasedCanary", 10, 5), [(0.1, 5), (1.0, 0)]),
        (Config("l", "TimeBasedLinear", 10, 1), [(s / 10, 1) for s in range(1, 10)] + [(1.0, 0)]),
        (Config("l", "TimeBasedLinear", 30, 2), [(0.3, 2), (0.6, 2), (0.9, 2), (1.0, 0)]),
        (Config("a", "AllAtOnce"), [(1.0, 0)]),
    ],
)
def test_the_fake_shifts_as_the_configurations_say(config: Config, shares: list) -> None:
    steps = config.steps()
    assert [m for _, m in steps] == [m for _, m in shares]
    assert [s for s, _ in steps] == pytest.approx([s for s, _ in shares])
