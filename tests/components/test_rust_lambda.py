"""components/rust_lambda.py under mocks."""

from __future__ import annotations

import base64
import dataclasses
import hashlib

import pytest

from components.rust_lambda import RustLambda, RustLambdaArgs, source_code_hash
from plan.view import policy_json

SECRET = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:rds!db-1-AbCdEf"
FN = "aws:lambda/function:Function"


def args(manifest, **changes: object) -> RustLambdaArgs:
    base: dict[str, object] = {
        "artifact": manifest.functions["handler"],
        "runtime": "provided.al2023",
        "vpc_id": "vpc-1",
        "subnet_ids": ["subnet-a", "subnet-b"],
        "db_secret_arn": SECRET,
        "environment": {"DB_SECRET_ARN": SECRET, "RUST_LOG": "info"},
    }
    base.update(changes)
    return RustLambdaArgs(**base)  # type: ignore[arg-type]


def test_function_from_manifest_entry(run, manifest) -> None:
    plan = run(lambda: RustLambda("fn", args(manifest, memory_mb=256, timeout_seconds=20)))
    artifact = manifest.functions["handler"]
    inputs = plan.inputs(FN, "fn")
    assert inputs["name"] == "fn"
    assert inputs["runtime"] == "provided.al2023"
    assert inputs["handler"] == "bootstrap"
    assert inputs["architectures"] == ["x86_64"]
    assert inputs["code"] == {"path": "tests/fixtures/handler.zip", "sha256": artifact.sha256}
    assert (
        inputs["sourceCodeHash"]
        == base64.b64encode(hashlib.sha256(artifact.zip_path.read_bytes()).digest()).decode()
    )
    assert (inputs["memorySize"], inputs["timeout"], inputs["publish"]) == (256, 20, True)
    assert "reservedConcurrentExecutions" not in inputs
    assert inputs["environment"] == {"variables": {"DB_SECRET_ARN": SECRET, "RUST_LOG": "info"}}
    assert inputs["vpcConfig"]["subnetIds"] == ["subnet-a", "subnet-b"]


def test_function_waits_for_its_role_policy(run, manifest) -> None:
    """The function is created after its role's permissions (no race with IAM on create) and
    deleted before them (its role can still delete its network interfaces)."""
    plan = run(lambda: RustLambda("fn", args(manifest)))
    function = plan.one(FN)
    policy = plan.one("aws:iam/rolePolicy:RolePolicy")
    assert policy["urn"] in function["dependsOn"]
    assert {e["name"] for e in plan.fed_by(function, "role")} == {"fn-role"}


def test_a_customer_managed_key_is_decryptable_through_secrets_manager_only(run, manifest) -> None:
    key = "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    plan = run(lambda: RustLambda("fn", args(manifest, db_secret_kms_key_arn=key)))
    policy = policy_json(plan.inputs("aws:iam/rolePolicy:RolePolicy")["policy"])
    kms = [st for st in policy["Statement"] if str(st["Action"]).startswith("kms:")]
    assert kms == [
        {
            "Effect": "Allow",
            "Action": "kms:Decrypt",
            "Resource": key,
            "Condition": {
                "StringEquals": {"kms:ViaService": "secretsmanager.eu-west-1.amazonaws.com"}
            },
        }
    ]
    without = run(lambda: RustLambda("fn", args(manifest)))
    statements = policy_json(without.inputs("aws:iam/rolePolicy:RolePolicy")["policy"])["Statement"]
    assert not [st for st in statements if str(st["Action"]).startswith("kms:")]


def test_log_group_exists_before_the_function(run, manifest) -> None:
    plan = run(lambda: RustLambda("fn", args(manifest, log_retention_days=30)))
    log_group = plan.one("aws:cloudwatch/logGroup:LogGroup")
    assert log_group["inputs"] == {
        "name": "/aws/lambda/fn",
        "retentionInDays": 30,
        "tags": {},
    }
    function = plan.one(FN)
    assert log_group["urn"] in function["dependsOn"]
    assert function["inputs"]["loggingConfig"]["logGroup"] == "/aws/lambda/fn"


def test_alias_live_points_at_the_published_version(run, manifest) -> None:
    plan = run(lambda: RustLambda("fn", args(manifest)))
    alias = plan.one("aws:lambda/alias:Alias")
    assert alias["name"] == "fn-live"
    assert alias["inputs"] == {"name": "live", "functionName": "fn", "functionVersion": "1"}


def test_role_policy_is_least_privilege(run, manifest) -> None:
    plan = run(lambda: RustLambda("fn", args(manifest)))
    trust = policy_json(plan.inputs("aws:iam/role:Role")["assumeRolePolicy"])
    assert trust["Statement"][0]["Principal"] == {"Service": "lambda.amazonaws.com"}
    policy = policy_json(plan.inputs("aws:iam/rolePolicy:RolePolicy")["policy"])
    by_action = {str(st["Action"]): st["Resource"] for st in policy["Statement"]}
    assert by_action["secretsmanager:GetSecretValue"] == SECRET
    assert by_action[str(["logs:CreateLogStream", "logs:PutLogEvents"])] == (
        "arn:aws:logs:eu-west-1:123456789012:log-group:/aws/lambda/fn:*"
    )
    assert all(st["Action"] != "*" and "*" not in st["Action"] for st in policy["Statement"])


def test_extra_statements_join_the_role_policy(run, manifest) -> None:
    repo = "arn:aws:ecr:eu-west-1:123456789012:repository/app"
    extra = [{"Effect": "Allow", "Action": "ecr:DescribeImages", "Resource": repo}]
    plan = run(lambda: RustLambda("fn", args(manifest, extra_statements=extra)))
    policy = policy_json(plan.inputs("aws:iam/rolePolicy:RolePolicy")["policy"])
    assert policy["Statement"][-1] == extra[0]
    assert len(policy["Statement"]) == 4


def test_reserved_concurrency_and_protect(run, manifest) -> None:
    plan = run(lambda: RustLambda("fn", args(manifest, reserved_concurrency=5, protect=True)))
    assert plan.inputs(FN)["reservedConcurrentExecutions"] == 5
    assert plan.one("aws:cloudwatch/logGroup:LogGroup")["protect"] is True


def test_source_code_hash_is_base64_of_digest() -> None:
    assert source_code_hash("00" * 31 + "ff") == base64.b64encode(bytes(31) + b"\xff").decode()


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            {"runtime": "nodejs22.x"},
            "RustLambda fn: runtime must be one of "
            "('provided.al2023', 'provided.al2'), got 'nodejs22.x'",
        ),
        ({"memory_mb": 64}, "RustLambda fn: memory_mb must be in 128..10240, got 64"),
        ({"timeout_seconds": 901}, "RustLambda fn: timeout_seconds must be in 1..900, got 901"),
        (
            {"environment": {"DB_PASSWORD": "hunter2"}},
            "RustLambda fn: environment must not carry credentials, got ['DB_PASSWORD']; "
            "pass DB_SECRET_ARN and read the secret at init",
        ),
        (
            {"extra_statements": [{"Effect": "Allow", "Action": "ecr:*", "Resource": "*"}]},
            "RustLambda fn: extra_statements actions must be named without wildcards (least "
            "privilege), got 'ecr:*'; list each action, e.g. 'ecr:DescribeImages'",
        ),
        (
            {"extra_statements": [{"Effect": "Allow", "Resource": "*"}]},
            "RustLambda fn: extra_statements actions must be named without wildcards (least "
            "privilege), got None; list each action, e.g. 'ecr:DescribeImages'",
        ),
    ],
)
def test_guards(run, manifest, changes: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError) as info:
        run(lambda: RustLambda("fn", args(manifest, **changes)))
    assert str(info.value) == message


def test_guard_architecture_and_zip(run, manifest) -> None:
    artifact = manifest.functions["handler"]
    bad_arch = dataclasses.replace(artifact, architecture="ppc64")
    with pytest.raises(ValueError, match="architecture must be x86_64 or arm64, got 'ppc64'"):
        run(lambda: RustLambda("fn", args(manifest, artifact=bad_arch)))
    folder = dataclasses.replace(artifact, zip_path=artifact.zip_path.parent)
    with pytest.raises(ValueError, match=r"artifact must be a \.zip file"):
        run(lambda: RustLambda("fn", args(manifest, artifact=folder)))


ALIAS = "aws:lambda/alias:Alias"


def test_codedeploy_owns_the_alias_version_after_creation(run, manifest) -> None:
    """alias_managed_by="codedeploy": the alias starts on the published version, then Pulumi
    ignores its version and weights (CodeDeploy's UpdateAlias changes exactly those:
    https://docs.aws.amazon.com/lambda/latest/api/API_UpdateAlias.html), so a preview after a
    rollout shows no change and an `up` never resets shifted traffic."""
    plan = run(lambda: RustLambda("fn", args(manifest, alias_managed_by="codedeploy")))
    alias = plan.one(ALIAS)
    assert alias["ignoreChanges"] == ["functionVersion", "routingConfig"]
    assert {e["name"] for e in plan.fed_by(alias, "functionVersion")} == {"fn"}
    # nothing else on the alias that an update could carry
    assert set(alias["inputs"]) == {"name", "functionName", "functionVersion"}


def test_pulumi_moves_its_own_aliases(run, manifest) -> None:
    plan = run(lambda: RustLambda("fn", args(manifest)))
    assert plan.one(ALIAS)["ignoreChanges"] == []


def test_the_facts_monitoring_and_rollouts_read_are_plain_values(run, manifest) -> None:
    found: dict[str, RustLambda] = {}

    def program() -> None:
        found["fn"] = RustLambda(
            "fn",
            args(
                manifest,
                timeout_seconds=12,
                reserved_concurrency=40,
                memory_mb=512,
                alias_managed_by="codedeploy",
            ),
        )

    run(program)
    fn = found["fn"]
    assert (fn.timeout_seconds, fn.reserved_concurrency, fn.memory_mb) == (12, 40, 512)
    assert fn.alias_managed_by == "codedeploy"


def test_an_unknown_alias_manager_is_refused(run, manifest) -> None:
    with pytest.raises(ValueError) as info:
        run(lambda: RustLambda("fn", args(manifest, alias_managed_by="terraform")))
    assert str(info.value) == (
        "RustLambda fn: alias_managed_by must be one of ('pulumi', 'codedeploy'), got 'terraform'"
    )
