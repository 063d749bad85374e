"""The database section: managed RDS PostgreSQL or an external database."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from components.settings.reader import (
    SSL_MODES,
    Reader,
)

_KMS_KEY_ARN = re.compile(
    r"arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/[0-9a-f-]{36}|arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/mrk-[0-9a-f]{32}"
)
_SECRET_ARN = re.compile(r"arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:[0-9]{12}:secret:.+")


@dataclass(frozen=True, kw_only=True)
class DatabaseSettings:
    mode: Literal["managed", "external"]
    name: str
    username: str
    engine_version: str
    instance_class: str
    allocated_storage_gb: int
    max_allocated_storage_gb: int
    multi_az: bool
    backup_retention_days: int
    deletion_protection: bool
    ssl_mode: str
    app_username: str
    external_host: str
    external_port: int
    external_secret_arn: str
    external_secret_kms_key_arn: str | None
    external_security_group_id: str | None


def read_database(  # noqa: PLR0912 - one branch per rule of the section
    r: Reader, production: bool, protect: bool
) -> DatabaseSettings:
    fix = r.set_fix
    mode = r.choice("databaseMode", ("managed", "external"))
    name = r.matching("dbName", "app", r"[a-z][a-z0-9_]{0,62}", "must match [a-z][a-z0-9_]{0,62}")
    user = r.string("dbUsername", "app")
    if not re.fullmatch(r"[a-z][a-z0-9_]{0,15}", user) or user in ("postgres", "rdsadmin"):
        r.fail(
            "dbUsername",
            "must match [a-z][a-z0-9_]{0,15} and not be postgres or rdsadmin",
            user,
            fix("dbUsername", "app"),
        )
    version = r.matching(
        "dbEngineVersion",
        "16",
        r"1[3-9](\.[0-9]+)?",
        "must be PostgreSQL 13..19 (major or major.minor)",
    )
    instance_class = r.matching(
        "dbInstanceClass",
        "db.t4g.micro",
        r"db\.[a-z0-9-]+\.[a-z0-9]+",
        "must be an RDS instance class db.<family>.<size>",
    )
    storage = r.integer("dbAllocatedStorageGb", 20, 65536, "GiB")
    max_storage = r.integer("dbMaxAllocatedStorageGb", 20, 65536, "GiB")
    if max_storage < storage:
        r.fail(
            "dbMaxAllocatedStorageGb",
            f"must be at least dbAllocatedStorageGb ({storage})",
            max_storage,
            fix("dbMaxAllocatedStorageGb", storage),
        )
    multi_az = r.boolean("dbMultiAz")
    backups = r.integer("dbBackupRetentionDays", 0, 35, "days")
    deletion_protection = r.boolean("dbDeletionProtection")
    ssl_mode = r.choice("dbSslMode", SSL_MODES)
    app_user = r.string("dbAppUsername", "fleet_app")
    if not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", app_user) or app_user.startswith("pg_"):
        r.fail(
            "dbAppUsername",
            "must match [a-z_][a-z0-9_]{0,62} and not start with pg_",
            app_user,
            fix("dbAppUsername", "fleet_app"),
        )
    elif app_user == user:
        r.fail(
            "dbAppUsername",
            f"must differ from dbUsername ({user}): the runtime role has no DDL rights",
            app_user,
            fix("dbAppUsername", "fleet_app"),
        )
    host = r.string("externalDbHost", "db.example.internal")
    port = r.integer("externalDbPort", 1, 65535, "TCP port")
    secret = r.string("externalDbSecretArn", "arn:aws:secretsmanager:...")
    if mode == "external":
        if not re.fullmatch(r"[A-Za-z0-9.-]{1,253}", host):
            r.fail(
                "externalDbHost",
                "databaseMode external needs the database host name",
                host,
                fix("externalDbHost", "db.example.internal"),
            )
        if not _SECRET_ARN.fullmatch(secret):
            r.fail(
                "externalDbSecretArn",
                "databaseMode external needs a Secrets Manager secret ARN",
                secret,
                fix(
                    "externalDbSecretArn",
                    "arn:aws:secretsmanager:eu-west-1:123456789012:secret:db-AbCdEf",
                ),
            )
    external_sg = r.string("externalDbSecurityGroupId", "")
    if external_sg and not re.fullmatch(r"sg-[0-9a-f]{8,17}", external_sg):
        r.fail(
            "externalDbSecurityGroupId",
            "must be a security group id sg-<hex>",
            external_sg,
            fix("externalDbSecurityGroupId", "sg-0123456789abcdef0"),
        )
    elif external_sg and mode != "external":
        r.fail(
            "externalDbSecurityGroupId",
            "is only for databaseMode external (a managed database has its own group)",
            external_sg,
            f"fix: pulumi config rm externalDbSecurityGroupId -s {r.stack}",
        )
    kms_key = r.string("externalDbSecretKmsKeyArn", "")
    if kms_key and not _KMS_KEY_ARN.fullmatch(kms_key):
        r.fail(
            "externalDbSecretKmsKeyArn",
            "must be a KMS key ARN (arn:aws:kms:<region>:<account>:key/<id>; not an alias)",
            kms_key,
            fix(
                "externalDbSecretKmsKeyArn",
                "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab",
            ),
        )
    elif kms_key and mode != "external":
        r.fail(
            "externalDbSecretKmsKeyArn",
            "is only for databaseMode external (the managed database's secret uses the key RDS "
            "manages)",
            kms_key,
            f"fix: pulumi config rm externalDbSecretKmsKeyArn -s {r.stack}",
        )
    if production and mode == "managed":
        if not deletion_protection:
            r.fail(
                "dbDeletionProtection",
                "must be true when environment is production",
                deletion_protection,
                fix("dbDeletionProtection", "true"),
            )
        if backups < 7:
            r.fail(
                "dbBackupRetentionDays",
                "must be at least 7 when environment is production",
                backups,
                fix("dbBackupRetentionDays", 7),
            )
    if production and not protect:
        r.fail(
            "protectStateful",
            "must be true when environment is production",
            protect,
            fix("protectStateful", "true"),
        )
    return DatabaseSettings(
        mode=mode,  # type: ignore[arg-type]
        name=name,
        username=user,
        engine_version=version,
        instance_class=instance_class,
        allocated_storage_gb=storage,
        max_allocated_storage_gb=max_storage,
        multi_az=multi_az,
        backup_retention_days=backups,
        deletion_protection=deletion_protection,
        ssl_mode=ssl_mode,
        app_username=app_user,
        external_host=host,
        external_port=port,
        external_secret_arn=secret,
        external_secret_kms_key_arn=kms_key or None,
        external_security_group_id=external_sg or None,
    )
