"""Database: RDS PostgreSQL in private subnets with an AWS-managed password, or an external one.

Two credentials, two secrets. The *master* one (RDS manages and rotates it; for an external
database, the secret given) owns the schema and is used by the migration step only. The
*runtime* one is a least-privilege role (no DDL, no role management) whose secret this component
creates empty; the migration step creates the role, sets its password and writes the secret
(components/migration.py). Every runtime process reads only the runtime secret.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws
import pulumi_random as random

TYPE = "rust-on-aws:database:Database"
PORT = 5432
APP_USERNAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")


def _master_secret_arn(secrets: Sequence[aws.rds.outputs.InstanceMasterUserSecret]) -> str:
    """The ARN of the secret RDS manages for the master user (manage_master_user_password)."""
    arn = secrets[0].secret_arn if secrets else None
    if not arn:
        raise ValueError(
            "RDS returned no master user secret: manage_master_user_password must be true"
        )
    return arn


@dataclass(frozen=True, kw_only=True)
class ExternalDatabase:
    host: str
    """Host name of the PostgreSQL server."""
    secret_arn: str
    """Secrets Manager secret whose JSON has `username` and `password`."""
    port: int = PORT
    """TCP port. Default 5432."""
    secret_kms_key_arn: str | None = None
    """Customer-managed KMS key the secret is encrypted with (readers get kms:Decrypt on it,
    through Secrets Manager only). Default none: the AWS-managed key."""
    security_group_id: str | None = None
    """The database's own security group (sg-...): `allow_from` opens its port there to each of
    ours. Default none: open it yourself to the `security_group_ids` stack output."""


@dataclass(frozen=True, kw_only=True)
class DatabaseArgs:
    vpc_id: pulumi.Input[str]
    """VPC of the database's security group."""
    subnet_ids: pulumi.Input[Sequence[pulumi.Input[str]]]
    """Private subnets (two AZs at least) of the subnet group."""
    db_name: str = "app"
    """Database created in the instance. Default `app`."""
    username: str = "app"
    """Master user; its password is generated and rotated by RDS in Secrets Manager."""
    engine_version: str = "16"
    """PostgreSQL version. Default 16."""
    instance_class: str = "db.t4g.micro"
    """RDS instance class. Default db.t4g.micro."""
    allocated_storage_gb: int = 20
    """gp3 storage, GiB. Default 20."""
    max_allocated_storage_gb: int = 20
    """Storage autoscaling ceiling, GiB; equal to allocated_storage_gb disables it. Default 20."""
    multi_az: bool = False
    """Standby in a second AZ. Default false."""
    backup_retention_days: int = 1
    """Automated backups, days (0..35). Default 1."""
    deletion_protection: bool = True
    """RDS deletion protection, and a final snapshot on delete. Default true (secure default)."""
    protect: bool = False
    """Pulumi `protect` on the instance. Default false."""
    external: ExternalDatabase | None = None
    """Use this database instead of creating one (then the fields above are ignored)."""
    app_username: str = "fleet_app"
    """The runtime role the migration step creates ([a-z_][a-z0-9_]{0,62}, not `pg_*`, not the
    master user). Default fleet_app."""
    tags: dict[str, str] = field(default_factory=dict)
    """Tags on every resource."""


class Database(pulumi.ComponentResource):
    """PostgreSQL reachable on 5432 only from the security groups passed to `allow_from`."""

    host: pulumi.Output[str]
    port: pulumi.Output[int]
    db_name: pulumi.Output[str]
    master_secret_arn: pulumi.Output[str]
    """The owner's secret (`username`, `password`): RDS-managed, or the external one. Only the
    migration step reads it."""
    master_secret_kms_key_arn: str | None
    """The customer-managed key of an external database's secret, if any."""
    app_secret_arn: pulumi.Output[str]
    """The runtime role's secret, created empty here and written by the migration step."""
    app_username: str
    security_group_id: pulumi.Output[str] | None
    """The database's security group (None for an external database)."""
    endpoint: pulumi.Output[str]
    instance_identifier: pulumi.Output[str] | None
    """The RDS instance identifier (the `DBInstanceIdentifier` metric dimension); None when
    external."""
    allocated_storage_gb: int

    def __init__(
        self, name: str, args: DatabaseArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(TYPE, name, None, opts)
        self._name = name
        self._rules = 0
        if not APP_USERNAME.fullmatch(args.app_username) or args.app_username.startswith("pg_"):
            raise ValueError(
                f"Database {name}: app_username must match [a-z_][a-z0-9_]{{0,62}} and not start "
                f"with pg_, got {args.app_username!r}"
            )
        if args.external is None and args.app_username == args.username:
            raise ValueError(
                f"Database {name}: app_username must differ from the master username "
                f"{args.username!r}: the runtime role has no DDL rights"
            )
        ext = args.external
        if ext is not None and (not ext.host or not ext.secret_arn.startswith("arn:")):
            raise ValueError(
                f"Database {name}: external needs a host and a secret ARN, got "
                f"host={ext.host!r} secret_arn={ext.secret_arn!r}"
            )
        if ext is None and args.max_allocated_storage_gb < args.allocated_storage_gb:
            raise ValueError(
                f"Database {name}: max_allocated_storage_gb ({args.max_allocated_storage_gb}) "
                f"must be at least allocated_storage_gb ({args.allocated_storage_gb})"
            )
        self.app_username = args.app_username
        self.allocated_storage_gb = args.allocated_storage_gb
        # Empty: the migration step writes it (the password never passes through Pulumi).
        self.app_secret_arn = aws.secretsmanager.Secret(
            f"{name}-app-credentials",
            description=f"{name}: the runtime role {args.app_username} (written by the migration)",
            recovery_window_in_days=7,
            tags=args.tags,
            opts=pulumi.ResourceOptions(parent=self, protect=args.protect),
        ).arn
        if ext is not None:
            self.host = pulumi.Output.from_input(ext.host)
            self.port = pulumi.Output.from_input(ext.port)
            self.db_name = pulumi.Output.from_input(args.db_name)
            self.master_secret_arn = pulumi.Output.from_input(ext.secret_arn)
            self.security_group_id = (
                pulumi.Output.from_input(ext.security_group_id) if ext.security_group_id else None
            )
            self._port = ext.port
            self.master_secret_kms_key_arn = ext.secret_kms_key_arn
            self.endpoint = pulumi.Output.from_input(f"{ext.host}:{ext.port}")
            self.instance_identifier = None
            self.register_outputs({"host": self.host, "app_secret_arn": self.app_secret_arn})
            return
        child = pulumi.ResourceOptions(parent=self)
        tags = {**args.tags}
        self._port = PORT
        self._sg = aws.ec2.SecurityGroup(
            f"{name}-sg",
            vpc_id=args.vpc_id,
            description=f"{name}: PostgreSQL from the service and the Lambdas only",
            tags={**tags, "Name": f"{name}-sg"},
            opts=child,
        )
        subnet_group = aws.rds.SubnetGroup(
            f"{name}-subnets", subnet_ids=args.subnet_ids, tags=tags, opts=child
        )
        # Snapshot names are unique per account and region: a fixed name would collide with the
        # snapshot of an earlier instance of this stack and block its deletion. The suffix is
        # made once per database (random, kept in the state) and changes only with it.
        final_snapshot = (
            pulumi.Output.concat(
                f"{name}-final-",
                random.RandomId(f"{name}-final-snapshot-id", byte_length=4, opts=child).hex,
            )
            if args.deletion_protection
            else None
        )
        instance = aws.rds.Instance(
            f"{name}-instance",
            engine="postgres",
            engine_version=args.engine_version,
            instance_class=args.instance_class,
            allocated_storage=args.allocated_storage_gb,
            max_allocated_storage=(
                args.max_allocated_storage_gb
                if args.max_allocated_storage_gb > args.allocated_storage_gb
                else None
            ),
            storage_type="gp3",
            storage_encrypted=True,
            db_name=args.db_name,
            username=args.username,
            manage_master_user_password=True,
            db_subnet_group_name=subnet_group.name,
            vpc_security_group_ids=[self._sg.id],
            publicly_accessible=False,
            multi_az=args.multi_az,
            backup_retention_period=args.backup_retention_days,
            deletion_protection=args.deletion_protection,
            skip_final_snapshot=not args.deletion_protection,
            final_snapshot_identifier=final_snapshot,
            copy_tags_to_snapshot=True,
            auto_minor_version_upgrade=True,
            iam_database_authentication_enabled=False,
            tags=tags,
            opts=pulumi.ResourceOptions(parent=self, protect=args.protect),
        )
        self.host = instance.address
        self.port = instance.port
        self.db_name = instance.db_name
        self.master_secret_arn = instance.master_user_secrets.apply(_master_secret_arn)
        self.security_group_id = self._sg.id
        self.master_secret_kms_key_arn = None
        self.endpoint = instance.endpoint
        self.instance_identifier = instance.identifier
        self.register_outputs(
            {"host": self.host, "app_secret_arn": self.app_secret_arn, "endpoint": self.endpoint}
        )

    def allow_from(self, label: str, security_group_id: pulumi.Input[str] | None) -> None:
        """Open the database's port to one security group (the service's, a function's): on
        our own group, or on an external database's when its group was given; else a no-op."""
        if self.security_group_id is None or security_group_id is None:
            return
        aws.vpc.SecurityGroupIngressRule(
            f"{self._name}-from-{label}",
            security_group_id=self.security_group_id,
            referenced_security_group_id=security_group_id,
            ip_protocol="tcp",
            from_port=self._port,
            to_port=self._port,
            description=f"PostgreSQL from {label}",
            opts=pulumi.ResourceOptions(parent=self),
        )
