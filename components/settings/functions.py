"""The Lambda section: memory, timeouts, reserved concurrency, retention the timer applies."""

from __future__ import annotations

from dataclasses import dataclass

from components.settings.reader import (
    Reader,
)

UNRESERVED_MINIMUM = 100
"""Executions Lambda keeps unreserved in every account and region."""


@dataclass(frozen=True, kw_only=True)
class LambdaSettings:
    memory_mb: int
    api_timeout_seconds: int
    event_timeout_seconds: int
    handler_reserved_concurrency: int | None
    token_retention_days: int
    migration_timeout_seconds: int
    command_retention_days: int


def read_lambdas(r: Reader) -> LambdaSettings:
    memory = r.integer("lambdaMemoryMb", 128, 10240, "MiB")
    api_timeout = r.integer("apiTimeoutSeconds", 1, 29, "seconds")
    event_timeout = r.integer("eventTimeoutSeconds", 1, 900, "seconds")
    reserved = r.integer("handlerReservedConcurrency", -1, 100000, "executions; -1 unreserved")
    quota = r.integer("lambdaConcurrencyQuota", 100, 1_000_000, "concurrent executions")
    if reserved == 0:
        r.fail(
            "handlerReservedConcurrency",
            "0 would throttle every request; use -1 for unreserved or a positive number",
            reserved,
            r.set_fix("handlerReservedConcurrency", -1),
        )
    elif reserved > quota - UNRESERVED_MINIMUM:
        # Lambda refuses a reservation that leaves the account fewer than 100 unreserved
        # executions (https://docs.aws.amazon.com/lambda/latest/dg/configuration-concurrency.html).
        r.fail(
            "handlerReservedConcurrency",
            f"must leave {UNRESERVED_MINIMUM} of the account's lambdaConcurrencyQuota ({quota}) "
            f"unreserved, so at most {quota - UNRESERVED_MINIMUM}",
            reserved,
            f"{r.set_fix('handlerReservedConcurrency', quota - UNRESERVED_MINIMUM)} (or raise "
            "the Service Quotas limit and set lambdaConcurrencyQuota)",
        )
    return LambdaSettings(
        memory_mb=memory,
        api_timeout_seconds=api_timeout,
        event_timeout_seconds=event_timeout,
        handler_reserved_concurrency=None if reserved == -1 else reserved,
        token_retention_days=r.integer("tokenRetentionDays", 1, 3650, "days"),
        migration_timeout_seconds=r.integer("migrationTimeoutSeconds", 1, 900, "seconds"),
        command_retention_days=r.integer("commandRetentionDays", 1, 3650, "days"),
    )
