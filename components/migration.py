"""Migration: the one step that changes the schema, run before any new code goes live.

The `migrate` Lambda (app/migrate) is the only process with the master secret. Each invocation
applies the embedded SQL migrations under an advisory lock, makes sure the least-privilege
runtime role exists with only DML rights, and gives it a password written to the runtime secret
(docs/contracts.md section 3). An `aws.lambda_.Invocation` runs it during `pulumi up` whenever
its zip changes (the migrations are in it) or the runtime role does; the runtime functions'
`live` aliases and the service's task definition depend on that invocation, so no function or
task runs new code against the old schema. ECS tasks no longer migrate at start.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

from components.manifest import FunctionArtifact
from components.rust_lambda import RustLambda, RustLambdaArgs

TYPE = "rust-on-aws:migration:Migration"


@dataclass(frozen=True, kw_only=True)
class MigrationArgs:
    artifact: FunctionArtifact
    """The manifest's function with trigger `migration` (app/migrate)."""
    runtime: str
    """OS-only runtime (the manifest's)."""
    vpc_id: pulumi.Input[str]
    subnet_ids: pulumi.Input[Sequence[pulumi.Input[str]]]
    master_secret_arn: pulumi.Input[str]
    """The owner's secret (RDS-managed or the external database's)."""
    app_secret_arn: pulumi.Input[str]
    """The runtime role's secret, which the step writes."""
    app_username: str
    """The runtime role (DB_APP_USERNAME)."""
    environment: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    """DB_HOST, DB_PORT, DB_NAME, DB_SSLMODE, DB_SSLROOTCERT, RUST_LOG."""
    master_secret_kms_key_arn: pulumi.Input[str] | None = None
    """Customer-managed key of the master secret (kms:Decrypt via Secrets Manager only)."""
    memory_mb: int = 256
    """Memory, MiB. Default 256."""
    timeout_seconds: int = 300
    """Longest a migration may take, seconds (1..900). Default 300."""
    log_retention_days: int = 14
    protect: bool = False
    tags: dict[str, str] = field(default_factory=dict)


class Migration(pulumi.ComponentResource):
    function: RustLambda
    """The migrate Lambda (its security group must reach the database)."""
    function_name: str
    """The declared function's name (the binary's)."""
    done: pulumi.Resource
    """The invocation: depend on it to run only after the schema is current."""
    result: pulumi.Output[str]
    """The step's answer (`{"applied": [...], "role": ..., "rotated": ...}`)."""

    def __init__(
        self, name: str, args: MigrationArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(TYPE, name, None, opts)
        if args.artifact.declaration.trigger.kind != "migration":
            raise ValueError(
                f"Migration {name}: artifact must be the function declared with trigger "
                f"migration, got {args.artifact.name!r} (trigger "
                f"{args.artifact.declaration.trigger.kind})"
            )
        if not 1 <= args.timeout_seconds <= 900:
            raise ValueError(
                f"Migration {name}: timeout_seconds must be in 1..900, got {args.timeout_seconds}"
            )
        self.function_name = args.artifact.name
        function_name = f"{name.removesuffix('-migration')}-{args.artifact.name}"
        self.function = RustLambda(
            function_name,
            RustLambdaArgs(
                artifact=args.artifact,
                runtime=args.runtime,
                vpc_id=args.vpc_id,
                subnet_ids=args.subnet_ids,
                db_secret_arn=args.master_secret_arn,
                db_secret_kms_key_arn=args.master_secret_kms_key_arn,
                environment={
                    **args.environment,
                    "DB_MASTER_SECRET_ARN": args.master_secret_arn,
                    "DB_APP_SECRET_ARN": args.app_secret_arn,
                    "DB_APP_USERNAME": args.app_username,
                },
                extra_statements=[
                    {
                        # Two-phase rotation: a pending version, then the current stage moves.
                        "Effect": "Allow",
                        "Action": [
                            "secretsmanager:GetSecretValue",
                            "secretsmanager:PutSecretValue",
                            "secretsmanager:UpdateSecretVersionStage",
                        ],
                        "Resource": args.app_secret_arn,
                    }
                ],
                memory_mb=args.memory_mb,
                timeout_seconds=args.timeout_seconds,
                # One migration at a time (the advisory lock would serialise them anyway).
                reserved_concurrency=1,
                log_retention_days=args.log_retention_days,
                protect=args.protect,
                tags=args.tags,
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )
        invocation = aws.lambda_.Invocation(
            name,
            function_name=self.function.function_name,
            qualifier=self.function.alias_name,
            input=json.dumps({"source": "pulumi up", "rotate": False}),
            # Run again whenever the migrations (inside the zip) or the runtime role change.
            triggers={"migrate_zip": args.artifact.sha256, "app_username": args.app_username},
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.function]),
        )
        self.done = invocation
        self.result = invocation.result
        self.register_outputs({"result": self.result})
