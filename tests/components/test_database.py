"""components/database.py under mocks."""

from __future__ import annotations

import functools
import re
from typing import Any

import pulumi
import pytest

from components.database import Database, DatabaseArgs, ExternalDatabase
from plan.mocks import mock_id

RDS = "aws:rds/instance:Instance"
SG = "aws:ec2/securityGroup:SecurityGroup"
INGRESS = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"


def managed(**changes: object) -> DatabaseArgs:
    return DatabaseArgs(vpc_id="vpc-1", subnet_ids=["subnet-a", "subnet-b"], **changes)  # type: ignore[arg-type]


def test_managed_instance_is_private_encrypted_and_aws_managed_password(run) -> None:
    plan = run(lambda: Database("db", managed()))
    rds = plan.one(RDS, "db-instance")
    inputs = rds["inputs"]
    assert inputs["engine"] == "postgres"
    assert inputs["storageEncrypted"] is True
    assert inputs["publiclyAccessible"] is False
    assert inputs["manageMasterUserPassword"] is True
    assert "password" not in inputs
    assert inputs["vpcSecurityGroupIds"] == [mock_id(SG, "db-sg")]
    assert plan.inputs("aws:rds/subnetGroup:SubnetGroup")["subnetIds"] == ["subnet-a", "subnet-b"]
    # secure default: deletion protection and a final snapshot
    assert inputs["deletionProtection"] is True
    assert inputs["skipFinalSnapshot"] is False
    # the final snapshot's name is unique per database: a random suffix made once and kept in
    # the state (a fixed name collides with an earlier instance's snapshot: AWS refuses a
    # DBSnapshotAlreadyExists and the instance cannot be deleted)
    suffix = plan.one("random:index/randomId:RandomId", "db-final-snapshot-id")
    assert suffix["inputs"] == {"byteLength": 4}
    assert {e["name"] for e in plan.fed_by(rds, "finalSnapshotIdentifier")} == {
        "db-final-snapshot-id"
    }
    # RDS: 1-255 letters, digits and hyphens, starting with a letter, no double hyphen
    assert re.fullmatch(r"[a-zA-Z](?!.*--)[a-zA-Z0-9-]{0,254}", inputs["finalSnapshotIdentifier"])
    assert inputs["finalSnapshotIdentifier"].startswith("db-final-")
    assert rds["protect"] is False
    assert plan.of(INGRESS) == []


def test_unprotected_instance_skips_final_snapshot_and_protect_is_set(run) -> None:
    plan = run(lambda: Database("db", managed(deletion_protection=False, protect=True)))
    rds = plan.one(RDS)
    assert rds["inputs"]["deletionProtection"] is False
    assert rds["inputs"]["skipFinalSnapshot"] is True
    assert "finalSnapshotIdentifier" not in rds["inputs"]
    assert plan.of("random:index/randomId:RandomId") == []
    assert rds["protect"] is True


def test_storage_autoscaling_only_when_ceiling_is_higher(run) -> None:
    plan = run(
        lambda: Database("db", managed(allocated_storage_gb=20, max_allocated_storage_gb=20))
    )
    assert "maxAllocatedStorage" not in plan.inputs(RDS)
    plan = run(
        lambda: Database("db", managed(allocated_storage_gb=20, max_allocated_storage_gb=80))
    )
    assert plan.inputs(RDS)["maxAllocatedStorage"] == 80


def test_allow_from_opens_5432_to_that_group_only(run) -> None:
    def program() -> None:
        db = Database("db", managed())
        db.allow_from("server", "sg-server")
        db.allow_from("handler", "sg-handler")

    plan = run(program)
    rules = {e["name"]: e["inputs"] for e in plan.of(INGRESS)}
    assert rules == {
        f"db-from-{label}": {
            "securityGroupId": mock_id(SG, "db-sg"),
            "referencedSecurityGroupId": f"sg-{label}",
            "ipProtocol": "tcp",
            "fromPort": 5432,
            "toPort": 5432,
            "description": f"PostgreSQL from {label}",
        }
        for label in ("server", "handler")
    }


def test_external_database_creates_only_the_runtime_secret(run) -> None:
    seen: dict[int, object] = {}
    external = ExternalDatabase(
        host="db.example.internal",
        secret_arn="arn:aws:secretsmanager:eu-west-1:123456789012:secret:db-AbCdEf",
    )

    def program() -> None:
        db = Database("db", managed(external=external))
        db.allow_from("server", "sg-server")
        outputs: tuple[pulumi.Output[Any], ...] = (
            db.host,
            db.port,
            db.master_secret_arn,
            db.endpoint,
        )
        for i, out in enumerate(outputs):
            out.apply(functools.partial(seen.__setitem__, i))

    plan = run(program)
    assert sorted(e["type"] for e in plan) == [
        "aws:secretsmanager/secret:Secret",
        "rust-on-aws:database:Database",
    ]
    assert seen == {
        0: "db.example.internal",
        1: 5432,
        2: external.secret_arn,
        3: "db.example.internal:5432",
    }


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            managed(external=ExternalDatabase(host="", secret_arn="x")),
            "Database db: external needs a host and a secret ARN, got host='' secret_arn='x'",
        ),
        (
            managed(allocated_storage_gb=50, max_allocated_storage_gb=20),
            "Database db: max_allocated_storage_gb (20) must be at least allocated_storage_gb (50)",
        ),
    ],
)
def test_guards(run, args: DatabaseArgs, message: str) -> None:
    with pytest.raises(ValueError) as info:
        run(lambda: Database("db", args))
    assert str(info.value) == message


def test_the_runtime_role_gets_its_own_empty_secret(run) -> None:
    """The secret holds no value in Pulumi's inputs: the migration step writes the password."""
    plan = run(lambda: Database("db", managed(app_username="fleet_rw", protect=True)))
    secret = plan.one("aws:secretsmanager/secret:Secret")
    assert secret["name"] == "db-app-credentials"
    assert "fleet_rw" in secret["inputs"]["description"]
    assert plan.of("aws:secretsmanager/secretVersion:SecretVersion") == []
    assert secret["protect"] is True


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            {"app_username": "pg_monitor"},
            "Database db: app_username must match [a-z_][a-z0-9_]{0,62} and not start with pg_, "
            "got 'pg_monitor'",
        ),
        (
            {"app_username": "app"},
            "Database db: app_username must differ from the master username 'app': the runtime "
            "role has no DDL rights",
        ),
    ],
)
def test_runtime_role_guards(run, changes: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError) as info:
        run(lambda: Database("db", managed(**changes)))
    assert str(info.value) == message
