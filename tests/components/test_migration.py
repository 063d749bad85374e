"""components/migration.py under mocks."""

from __future__ import annotations

import json

import pytest

from components.migration import Migration, MigrationArgs
from plan.view import policy_json

MASTER = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:rds!db-1-AbCdEf"
APP = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:app-creds-AbCdEf"
KEY = "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"


def args(manifest, **changes: object) -> MigrationArgs:
    base: dict[str, object] = {
        "artifact": manifest.functions["migrate"],
        "runtime": "provided.al2023",
        "vpc_id": "vpc-1",
        "subnet_ids": ["subnet-a", "subnet-b"],
        "master_secret_arn": MASTER,
        "app_secret_arn": APP,
        "app_username": "fleet_app",
        "environment": {"DB_HOST": "db", "DB_SSLMODE": "verify-full"},
    }
    base.update(changes)
    return MigrationArgs(**base)  # type: ignore[arg-type]


def test_the_migrate_function_holds_the_master_secret_and_writes_the_app_secret(
    run, manifest
) -> None:
    plan = run(lambda: Migration("s-migration", args(manifest, master_secret_kms_key_arn=KEY)))
    function = plan.one("aws:lambda/function:Function")
    assert function["name"] == "s-migrate"
    assert plan.one("rust-on-aws:rust_lambda:RustLambda")["parent"] == "s-migration"
    env = function["inputs"]["environment"]["variables"]
    assert env == {
        "DB_HOST": "db",
        "DB_SSLMODE": "verify-full",
        "DB_MASTER_SECRET_ARN": MASTER,
        "DB_APP_SECRET_ARN": APP,
        "DB_APP_USERNAME": "fleet_app",
    }
    assert function["inputs"]["reservedConcurrentExecutions"] == 1
    assert function["inputs"]["timeout"] == 300
    statements = policy_json(plan.inputs("aws:iam/rolePolicy:RolePolicy")["policy"])["Statement"]
    by_resource: dict[str, list[str]] = {}
    for st in statements:
        actions = [st["Action"]] if isinstance(st["Action"], str) else st["Action"]
        by_resource.setdefault(json.dumps(st["Resource"]), []).extend(actions)
    assert by_resource[json.dumps(MASTER)] == ["secretsmanager:GetSecretValue"]
    assert sorted(by_resource[json.dumps(APP)]) == [
        # the calls app/migrate/src/rotation.rs makes: two-phase rotation
        "secretsmanager:GetSecretValue",
        "secretsmanager:PutSecretValue",
        "secretsmanager:UpdateSecretVersionStage",
    ]
    assert by_resource[json.dumps(KEY)] == ["kms:Decrypt"]


def test_it_runs_during_up_whenever_the_migrations_change(run, manifest) -> None:
    plan = run(lambda: Migration("s-migration", args(manifest)))
    invocation = plan.one("aws:lambda/invocation:Invocation")
    alias = plan.one("aws:lambda/alias:Alias")
    assert {e["urn"] for e in plan.fed_by(invocation, "qualifier")} == {alias["urn"]}
    assert invocation["inputs"]["qualifier"] == "live"
    assert json.loads(invocation["inputs"]["input"]) == {"source": "pulumi up", "rotate": False}
    assert invocation["inputs"]["triggers"] == {
        "migrate_zip": manifest.functions["migrate"].sha256,
        "app_username": "fleet_app",
    }


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            {"timeout_seconds": 901},
            "Migration s-migration: timeout_seconds must be in 1..900, got 901",
        ),
    ],
)
def test_guards(run, manifest, changes: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError) as info:
        run(lambda: Migration("s-migration", args(manifest, **changes)))
    assert str(info.value) == message


def test_only_the_migrate_artifact(run, manifest) -> None:
    with pytest.raises(
        ValueError,
        match=r"artifact must be the function declared with trigger migration, got 'handler' "
        r"\(trigger api\)",
    ):
        run(
            lambda: Migration("s-migration", args(manifest, artifact=manifest.functions["handler"]))
        )
