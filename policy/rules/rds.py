"""Guardrails for RDS."""

from __future__ import annotations

from collections.abc import Iterator

from policy.model import (
    Resource,
    Rule,
    dig,
    is_set,
)
from policy.rules.common import (
    RDS_INSTANCE,
    rule,
)


def _rds_private(r: Resource) -> Iterator[str]:
    if dig(r.props, "publiclyAccessible") is True:
        yield "the database must not be public; got publiclyAccessible=True; set it to False"


def _rds_encrypted(r: Resource) -> Iterator[str]:
    if dig(r.props, "storageEncrypted") is not True:
        yield (
            "storage must be encrypted; got "
            f"storageEncrypted={dig(r.props, 'storageEncrypted')!r}; set storage_encrypted=True"
        )


def _rds_multi_az(r: Resource) -> Iterator[str]:
    if r.is_production and dig(r.props, "multiAz") is not True:
        yield (
            f"a production database must be multi-AZ; got multiAz={dig(r.props, 'multiAz')!r}; "
            "set database.multiAz: true in Pulumi.prod.yaml"
        )


def _rds_deletion_protection(r: Resource) -> Iterator[str]:
    if r.is_production and dig(r.props, "deletionProtection") is not True:
        yield (
            "a production database must have deletion protection; got deletionProtection="
            f"{dig(r.props, 'deletionProtection')!r}; set it in Pulumi.prod.yaml"
        )


def _rds_backups(r: Resource) -> Iterator[str]:
    days = dig(r.props, "backupRetentionPeriod")
    minimum = 7 if r.is_production else 1
    if not isinstance(days, int) or days < minimum:
        yield (
            f"automatic backups must be kept at least {minimum} day(s) on this stack; got "
            f"backupRetentionPeriod={days!r}; raise the stack's backup retention"
        )


def _rds_minor_upgrades(r: Resource) -> Iterator[str]:
    if dig(r.props, "autoMinorVersionUpgrade") is False:
        yield "minor engine upgrades must be automatic; got autoMinorVersionUpgrade=False; drop it"


def _rds_managed_password(r: Resource) -> Iterator[str]:
    if is_set(r.props, "password") or dig(r.props, "manageMasterUserPassword") is not True:
        yield (
            "the master password must be managed by AWS in Secrets Manager; got "
            f"manageMasterUserPassword={dig(r.props, 'manageMasterUserPassword')!r} "
            f"password={'<set>' if is_set(r.props, 'password') else None}; set "
            "manage_master_user_password=True and no password"
        )


RULES: tuple[Rule, ...] = (
    rule("rds-not-public", "RDS.2", [RDS_INSTANCE], _rds_private,
          "RDS instances are not publicly accessible."),
    rule("rds-encrypted", "RDS.3", [RDS_INSTANCE], _rds_encrypted,
          "RDS instances are encrypted at rest."),
    rule("rds-multi-az-in-prod", "RDS.5", [RDS_INSTANCE], _rds_multi_az,
          "Production RDS instances are multi-AZ."),
    rule("rds-deletion-protection-in-prod", "RDS.8", [RDS_INSTANCE], _rds_deletion_protection,
          "Production RDS instances have deletion protection."),
    rule("rds-backups", "RDS.11", [RDS_INSTANCE], _rds_backups,
          "RDS instances keep automatic backups (7 days in production)."),
    rule("rds-auto-minor-upgrade", "RDS.13", [RDS_INSTANCE], _rds_minor_upgrades,
          "RDS instances take automatic minor version upgrades."),
    rule("rds-managed-master-password", "custom", [RDS_INSTANCE], _rds_managed_password,
          "The master password is managed by AWS in Secrets Manager, never given as input."),
)  # fmt: skip
