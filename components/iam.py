"""Policy documents as dicts: least-privilege helpers shared by the components."""

from __future__ import annotations

import json
from typing import Any

import pulumi
import pulumi_aws as aws


def assume_role_policy(service: str) -> str:
    """Trust policy letting one AWS service principal assume a role."""
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Service": service},
                    "Action": "sts:AssumeRole",
                }
            ],
        }
    )


def policy_document(statements: list[dict[str, Any]]) -> pulumi.Output[str]:
    """A policy JSON from statements whose Resource values may be outputs."""
    return pulumi.Output.json_dumps({"Version": "2012-10-17", "Statement": statements})


def kms_decrypt_via_secrets_manager(key_arn: pulumi.Input[str]) -> dict[str, Any]:
    """`kms:Decrypt` with one key, only when Secrets Manager calls KMS on the role's behalf
    (https://docs.aws.amazon.com/secretsmanager/latest/userguide/security-encryption.html)."""
    region = aws.get_region_output()
    return {
        "Effect": "Allow",
        "Action": "kms:Decrypt",
        "Resource": key_arn,
        "Condition": {
            "StringEquals": {
                "kms:ViaService": pulumi.Output.concat(
                    "secretsmanager.", region.region, ".amazonaws.com"
                )
            }
        },
    }
