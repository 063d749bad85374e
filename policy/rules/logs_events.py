"""Guardrails for CloudWatch Logs, EventBridge, SQS."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from policy.model import (
    Resource,
    Rule,
    dig,
    is_set,
    json_input,
)
from policy.rules.common import (
    EVENT_TARGET,
    LOG_GROUP,
    LOG_RETENTION_DAYS,
    SQS_QUEUE,
    SQS_QUEUE_POLICY,
    rule,
    statements,
)


def _log_retention(r: Resource) -> Iterator[str]:
    days = dig(r.props, "retentionInDays")
    if days not in LOG_RETENTION_DAYS:
        yield (
            f"log retention must be set; got retentionInDays={days!r}; set one of CloudWatch's "
            "values (e.g. 14, 30, 90, 365) from the stack config"
        )


def _event_target_dlq(r: Resource) -> Iterator[str]:
    if not is_set(r.props, "deadLetterConfig.arn"):
        yield "the target must have a dead-letter queue; got none; set dead_letter_config.arn"
    if not is_set(r.props, "retryPolicy"):
        yield "the target must have a retry policy; got none; set retry_policy"


def _sqs_encrypted(r: Resource) -> Iterator[str]:
    if dig(r.props, "sqsManagedSseEnabled") is not True and not is_set(r.props, "kmsMasterKeyId"):
        yield (
            "the queue must be encrypted at rest; got sqsManagedSseEnabled="
            f"{dig(r.props, 'sqsManagedSseEnabled')!r} and no kmsMasterKeyId; set "
            "sqs_managed_sse_enabled=True"
        )


def _principal_is_public(principal: Any) -> bool:
    if principal == "*":
        return True
    if isinstance(principal, Mapping):
        return any(v in ("*", ["*"]) for v in principal.values())
    return False


def _sqs_policy_not_public(r: Resource) -> Iterator[str]:
    for statement in statements(json_input(r.props, "policy")):
        if (
            statement.get("Effect", "Allow") == "Allow"
            and _principal_is_public(statement.get("Principal"))
            and not statement.get("Condition")
        ):
            yield (
                "a queue policy must not be public; got Principal "
                f"{statement.get('Principal')!r} without a condition; scope it with "
                "aws:SourceArn to the rule that sends to it"
            )


RULES: tuple[Rule, ...] = (
    rule("log-group-retention", "CloudWatch.16", [LOG_GROUP], _log_retention,
          "Every log group sets a retention period."),
    rule("eventbridge-target-dlq-and-retry", "custom", [EVENT_TARGET], _event_target_dlq,
          "Every EventBridge target has a dead-letter queue and a retry policy."),
    rule("sqs-encrypted", "SQS.1", [SQS_QUEUE], _sqs_encrypted,
          "SQS queues are encrypted at rest."),
    rule("sqs-policy-not-public", "SQS.3", [SQS_QUEUE_POLICY], _sqs_policy_not_public,
          "SQS queue policies do not allow public access."),
)  # fmt: skip
