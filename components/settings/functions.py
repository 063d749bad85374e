"""The Lambda section: memory, timeouts, reserved concurrency, retention the timer applies."""

from __future__ import annotations

from dataclasses import dataclass

from components.settings.reader import (
    Reader,
)


@dataclass(frozen=True, kw_only=True)
class LambdaSettings:
    memory_mb: int
    api_timeout_seconds: int
    event_timeout_seconds: int
    handler_reserved_concurrency: int | None
    token_retention_days: int
    command_retention_days: int


def read_lambdas(r: Reader) -> LambdaSettings:
    memory = r.integer("lambdaMemoryMb", 128, 10240, "MiB")
    api_timeout = r.integer("apiTimeoutSeconds", 1, 29, "seconds")
    event_timeout = r.integer("eventTimeoutSeconds", 1, 900, "seconds")
    reserved = r.integer("handlerReservedConcurrency", -1, 100000, "executions; -1 unreserved")
    if reserved == 0:
        r.fail(
            "handlerReservedConcurrency",
            "0 would throttle every request; use -1 for unreserved or a positive number",
            reserved,
            r.set_fix("handlerReservedConcurrency", -1),
        )
    return LambdaSettings(
        memory_mb=memory,
        api_timeout_seconds=api_timeout,
        event_timeout_seconds=event_timeout,
        handler_reserved_concurrency=None if reserved == -1 else reserved,
        token_retention_days=r.integer("tokenRetentionDays", 1, 3650, "days"),
        command_retention_days=r.integer("commandRetentionDays", 1, 3650, "days"),
    )
