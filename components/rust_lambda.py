"""RustLambda: one Lambda from one manifest entry, with its role, logs, version and alias."""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import pulumi
import pulumi_aws as aws

from components.iam import assume_role_policy, kms_decrypt_via_secrets_manager, policy_document
from components.manifest import FunctionArtifact

TYPE = "rust-on-aws:rust_lambda:RustLambda"
ALIAS = "live"
RUNTIMES = ("provided.al2023", "provided.al2")
ARCHITECTURES = ("x86_64", "arm64")
ALIAS_MANAGERS = ("pulumi", "codedeploy")
#: The alias inputs CodeDeploy changes while it shifts traffic: Pulumi ignores them after
#: creation when CodeDeploy moves the alias, so neither undoes the other.
CODEDEPLOY_OWNED = ("functionVersion", "routingConfig")
#: Variables that would carry a credential; never set (the secret is read at init).
FORBIDDEN_ENV = ("DB_PASSWORD", "PGPASSWORD", "DATABASE_URL")


def source_code_hash(sha256_hex: str) -> str:
    """Base64 of the zip's sha256 digest: the form AWS reports as CodeSha256 (no spurious diff)."""
    return base64.b64encode(bytes.fromhex(sha256_hex)).decode()


@dataclass(frozen=True, kw_only=True)
class RustLambdaArgs:
    artifact: FunctionArtifact
    """The manifest entry: zip path, sha256, architecture."""
    runtime: str
    """OS-only runtime, provided.al2023 or provided.al2 (the manifest's)."""
    vpc_id: pulumi.Input[str] | None = None
    """VPC of the function's security group; None runs it outside any VPC (a function that
    reaches no private resource needs no network interface). Default None."""
    subnet_ids: pulumi.Input[Sequence[pulumi.Input[str]]] | None = None
    """Private subnets the function runs in (with `vpc_id`)."""
    db_secret_arn: pulumi.Input[str] | None = None
    """The one secret the function may read (DB_SECRET_ARN); None: no secret at all."""
    db_secret_kms_key_arn: pulumi.Input[str] | None = None
    """Customer-managed KMS key the secret is encrypted with: the role may `kms:Decrypt` with
    that key only, and only through Secrets Manager. Default none (the AWS-managed key, which
    needs no grant)."""
    environment: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    """Environment variables (docs/contracts.md section 3). Never a password."""
    memory_mb: int = 128
    """Memory, MiB (128..10240). Default 128."""
    timeout_seconds: int = 10
    """Timeout, seconds (1..900). Default 10."""
    reserved_concurrency: int | None = None
    """Reserved concurrent executions; None leaves the function unreserved. Default None."""
    tracing: str | None = None
    """X-Ray tracing mode, Active or PassThrough (with the role's permission to send traces).
    Default None: Lambda's default."""
    log_retention_days: int = 14
    """Log group retention, days. Default 14."""
    extra_statements: Sequence[Mapping[str, Any]] = ()
    """More IAM statements for the function's role, beyond logs, VPC interfaces and the database
    secret (e.g. `ecr:DescribeImages` on one repository). Resources may be outputs; an action
    with a wildcard is refused. Default none."""
    live_after: Sequence[pulumi.Resource] = ()
    """The `live` alias (what every trigger invokes) moves to a newly published version only
    after these: the migration step, so no trigger reaches new code on the old schema.
    Default none."""
    alias_managed_by: Literal["pulumi", "codedeploy"] = "pulumi"
    """Who moves the `live` alias to a newly published version. "pulumi": this component, in
    the `pulumi up` that publishes it (after `live_after`). "codedeploy": Pulumi points the
    alias at the first version when it creates it and then ignores its `functionVersion` and
    `routingConfig`; a CodeDeploy deployment (`components/code_deploy.py`, started by
    `python -m rollout` after `pulumi up`) shifts traffic to `version`. Default "pulumi"."""
    protect: bool = False
    """Pulumi `protect` on the log group. Default false."""
    tags: dict[str, str] = field(default_factory=dict)
    """Tags on every taggable resource."""


class RustLambda(pulumi.ComponentResource):
    function_name: pulumi.Output[str]
    function_arn: pulumi.Output[str]
    alias_arn: pulumi.Output[str]
    """ARN of the `live` alias: what triggers and permissions target."""
    alias_invoke_arn: pulumi.Output[str]
    """Invoke ARN of the `live` alias (API Gateway integrations and authorizers)."""
    alias_name: pulumi.Output[str]
    role_arn: pulumi.Output[str]
    role_name: pulumi.Output[str]
    """The execution role's name (other components attach their grants to it)."""
    security_group_id: pulumi.Output[str] | None
    """The function's security group (None outside a VPC)."""
    version: pulumi.Output[str]
    """The version the last `pulumi up` published: where the `live` alias is (alias managed by
    Pulumi) or where a CodeDeploy rollout moves it."""
    timeout_seconds: int
    """The function's timeout, seconds (what its duration alarm is a fraction of)."""
    memory_mb: int
    reserved_concurrency: int | None
    """Reserved concurrent executions, or None when unreserved."""
    alias_managed_by: str
    """"pulumi" or "codedeploy" (`RustLambdaArgs.alias_managed_by`)."""

    def __init__(
        self, name: str, args: RustLambdaArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(TYPE, name, None, opts)
        art = args.artifact
        _validate(name, args)
        child = pulumi.ResourceOptions(parent=self)
        tags = args.tags
        in_vpc = args.vpc_id is not None

        log_group = aws.cloudwatch.LogGroup(
            f"{name}-logs",
            name=f"/aws/lambda/{name}",
            retention_in_days=args.log_retention_days,
            tags=tags,
            opts=pulumi.ResourceOptions(parent=self, protect=args.protect),
        )
        role = aws.iam.Role(
            f"{name}-role",
            assume_role_policy=assume_role_policy("lambda.amazonaws.com"),
            description=f"{name}: logs"
            + (", VPC interfaces" if in_vpc else "")
            + (", the database secret" if args.db_secret_arn is not None else ""),
            tags=tags,
            opts=child,
        )
        kms = (
            [kms_decrypt_via_secrets_manager(args.db_secret_kms_key_arn)]
            if args.db_secret_kms_key_arn is not None
            else []
        )
        statements = _base_statements(args, log_group)
        statements += kms
        statements += [dict(statement) for statement in args.extra_statements]
        policy = aws.iam.RolePolicy(
            f"{name}-policy",
            role=role.id,
            policy=policy_document(statements),
            opts=child,
        )
        sg = None
        subnets = args.subnet_ids
        if args.vpc_id is not None:
            sg = aws.ec2.SecurityGroup(
                f"{name}-sg",
                vpc_id=args.vpc_id,
                description=f"{name}: Lambda network interfaces (egress only)",
                tags={**tags, "Name": f"{name}-sg"},
                opts=child,
            )
            aws.vpc.SecurityGroupEgressRule(
                f"{name}-egress",
                security_group_id=sg.id,
                cidr_ipv4="0.0.0.0/0",
                ip_protocol="-1",
                description="Secrets Manager through the NAT; the database",
                opts=child,
            )
        function = aws.lambda_.Function(
            name,
            name=name,
            role=role.arn,
            runtime=args.runtime,
            handler="bootstrap",
            architectures=[art.architecture],
            code=pulumi.FileArchive(str(art.zip_path)),
            source_code_hash=source_code_hash(art.sha256),
            memory_size=args.memory_mb,
            timeout=args.timeout_seconds,
            reserved_concurrent_executions=args.reserved_concurrency,
            publish=True,
            vpc_config=(
                aws.lambda_.FunctionVpcConfigArgs(subnet_ids=subnets, security_group_ids=[sg.id])
                if sg is not None and subnets is not None
                else None
            ),
            tracing_config=(
                aws.lambda_.FunctionTracingConfigArgs(mode=args.tracing) if args.tracing else None
            ),
            environment=aws.lambda_.FunctionEnvironmentArgs(variables=dict(args.environment)),
            logging_config=aws.lambda_.FunctionLoggingConfigArgs(
                log_format="Text", log_group=log_group.name
            ),
            tags=tags,
            # The log group (with its retention) and the role's permissions exist before the
            # function: an invocation (or the VPC attachment) right after creation would
            # otherwise race IAM; on destroy the function goes first, while its role can still
            # delete the network interfaces it made.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[log_group, policy]),
        )
        alias = aws.lambda_.Alias(
            f"{name}-{ALIAS}",
            name=ALIAS,
            function_name=function.name,
            function_version=function.version,
            # With CodeDeploy the alias's version and weights are CodeDeploy's once it exists: a
            # preview after a rollout shows no change and an `up` never resets shifted traffic.
            # The alias has no other input that could make Pulumi update it.
            opts=pulumi.ResourceOptions(
                parent=self,
                depends_on=list(args.live_after),
                ignore_changes=(
                    list(CODEDEPLOY_OWNED) if args.alias_managed_by == "codedeploy" else None
                ),
            ),
        )
        self.function_name = function.name
        self.function_arn = function.arn
        self.alias_arn = alias.arn
        self.alias_invoke_arn = alias.invoke_arn
        self.alias_name = alias.name
        self.role_arn = role.arn
        self.role_name = role.name
        self.security_group_id = sg.id if sg is not None else None
        self.version = function.version
        self.timeout_seconds = args.timeout_seconds
        self.memory_mb = args.memory_mb
        self.reserved_concurrency = args.reserved_concurrency
        self.alias_managed_by = args.alias_managed_by
        self.register_outputs(
            {
                "function_name": self.function_name,
                "alias_arn": self.alias_arn,
                "alias_invoke_arn": self.alias_invoke_arn,
                "version": self.version,
            }
        )


def _validate(name: str, args: RustLambdaArgs) -> None:
    """ValueError naming the argument when `args` break a rule."""
    art = args.artifact
    if args.runtime not in RUNTIMES:
        raise ValueError(
            f"RustLambda {name}: runtime must be one of {RUNTIMES}, got {args.runtime!r}"
        )
    if art.architecture not in ARCHITECTURES:
        raise ValueError(
            f"RustLambda {name}: architecture must be x86_64 or arm64, got {art.architecture!r}"
        )
    if not 128 <= args.memory_mb <= 10240:
        raise ValueError(
            f"RustLambda {name}: memory_mb must be in 128..10240, got {args.memory_mb}"
        )
    if not 1 <= args.timeout_seconds <= 900:
        raise ValueError(
            f"RustLambda {name}: timeout_seconds must be in 1..900, got {args.timeout_seconds}"
        )
    forbidden = sorted(set(args.environment) & set(FORBIDDEN_ENV))
    if forbidden:
        raise ValueError(
            f"RustLambda {name}: environment must not carry credentials, got {forbidden}; "
            "pass DB_SECRET_ARN and read the secret at init"
        )
    if not art.zip_path.suffix == ".zip":
        raise ValueError(f"RustLambda {name}: artifact must be a .zip file, got {art.zip_path}")
    for statement in args.extra_statements:
        actions = statement.get("Action")
        listed = [actions] if isinstance(actions, str) else list(actions or [])
        if not listed or any(not isinstance(a, str) or "*" in a for a in listed):
            raise ValueError(
                f"RustLambda {name}: extra_statements actions must be named without "
                f"wildcards (least privilege), got {actions!r}; list each action, "
                "e.g. 'ecr:DescribeImages'"
            )
    if (args.vpc_id is None) != (args.subnet_ids is None):
        raise ValueError(
            f"RustLambda {name}: vpc_id and subnet_ids go together, got vpc_id="
            f"{args.vpc_id!r} and subnet_ids={args.subnet_ids!r}; pass both or neither"
        )
    if args.alias_managed_by not in ALIAS_MANAGERS:
        raise ValueError(
            f"RustLambda {name}: alias_managed_by must be one of {ALIAS_MANAGERS}, got "
            f"{args.alias_managed_by!r}"
        )
    if args.tracing not in (None, "Active", "PassThrough"):
        raise ValueError(
            f"RustLambda {name}: tracing must be Active or PassThrough, got {args.tracing!r}"
        )


def _base_statements(
    args: RustLambdaArgs, log_group: aws.cloudwatch.LogGroup
) -> list[dict[str, Any]]:
    """Logs to its own group; VPC interfaces, the secret, X-Ray when it uses them."""
    in_vpc = args.vpc_id is not None
    statements: list[dict[str, Any]] = [
        {
            "Effect": "Allow",
            "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
            "Resource": pulumi.Output.concat(log_group.arn, ":*"),
        }
    ]
    if in_vpc:
        statements.append(
            {
                # What AWSLambdaVPCAccessExecutionRole grants for ENIs; these EC2 actions
                # have no resource-level permissions.
                "Effect": "Allow",
                "Action": [
                    "ec2:CreateNetworkInterface",
                    "ec2:DescribeNetworkInterfaces",
                    "ec2:DescribeSubnets",
                    "ec2:DeleteNetworkInterface",
                    "ec2:AssignPrivateIpAddresses",
                    "ec2:UnassignPrivateIpAddresses",
                ],
                "Resource": "*",
            }
        )
    if args.db_secret_arn is not None:
        statements.append(
            {
                "Effect": "Allow",
                "Action": "secretsmanager:GetSecretValue",
                "Resource": args.db_secret_arn,
            }
        )
    if args.tracing == "Active":
        # What AWSXRayDaemonWriteAccess grants a function; no resource-level permissions.
        statements.append(
            {
                "Effect": "Allow",
                "Action": ["xray:PutTraceSegments", "xray:PutTelemetryRecords"],
                "Resource": "*",
            }
        )
    return statements
