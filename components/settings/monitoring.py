"""The monitoring section: who alarms notify, and the thresholds every alarm compares against.

Thresholds are per stack (production is stricter: it alarms sooner and on less). Turning
notifications off keeps every alarm, its state and the Lambda rollbacks it triggers; only the
topic's subscriptions go.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from components.settings.database import DatabaseSettings
from components.settings.reader import Reader

EMAIL = re.compile(
    r"(?=.{3,254}$)(?=[^@]{1,64}@)"
    r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r"@([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}"
)
"""An address SNS can deliver to: a dot-atom local part (RFC 5322 section 3.4.1, at most 64
characters), `@`, a host name with a top-level domain, 254 characters at most (RFC 5321
section 4.5.3.1). Quoted local parts and address literals are refused on purpose."""
EMAIL_EXAMPLE = ["oncall@example.com"]


@dataclass(frozen=True, kw_only=True)
class Thresholds:
    """What each alarm compares against (units in the names). Defaults are the documented
    defaults of Pulumi.yaml."""

    evaluation_minutes: int = 5
    """Consecutive one-minute periods a rate, latency or utilisation threshold must be breached
    before the alarm fires ("any" alarms, such as a dead-letter message, fire on the first)."""
    lambda_errors: int = 5
    """Function errors per minute."""
    lambda_throttles: int = 10
    """Throttled invocations per minute."""
    lambda_duration_percent: int = 90
    """p99 duration, percent of the function's timeout."""
    lambda_concurrency_percent: int = 90
    """Concurrent executions, percent of the function's reserved concurrency."""
    api_5xx_percent: int = 5
    """Share of API requests answered 5xx, percent."""
    api_latency_p99_ms: int = 5000
    """API Gateway p99 latency, milliseconds."""
    target_5xx_per_minute: int = 10
    """5xx answers from the service's targets per minute."""
    target_response_p99_ms: int = 3000
    """p99 target response time, milliseconds."""
    service_cpu_percent: int = 90
    service_memory_percent: int = 90
    db_cpu_percent: int = 90
    db_free_storage_gb: int = 2
    """Free storage below this many GiB."""
    db_free_memory_mb: int = 64
    """Freeable memory below this many MiB."""
    db_connections: int = 80
    """Connections above this many."""


@dataclass(frozen=True, kw_only=True)
class MonitoringSettings:
    notifications: bool
    """False: the topic has no subscriptions (the alarms stay)."""
    emails: tuple[str, ...]
    https_endpoint: str | None
    thresholds: Thresholds


def _emails(r: Reader) -> tuple[str, ...]:
    emails = r.strings("alarmEmails", EMAIL_EXAMPLE)
    fix = r.set_fix("alarmEmails", EMAIL_EXAMPLE)
    for email in emails:
        if not EMAIL.fullmatch(email):
            r.fail(
                "alarmEmails",
                "each entry must be an e-mail address (local@domain.tld, no spaces)",
                email,
                fix,
            )
    repeated = sorted({e for e in emails if [x.lower() for x in emails].count(e.lower()) > 1})
    if repeated:
        r.fail("alarmEmails", "must not list an address twice", repeated[0], fix)
    return emails


def _https_endpoint(r: Reader) -> str | None:
    url = r.string("alarmHttpsEndpoint", "")
    if not url:
        return None
    parts = urlsplit(url)
    if parts.scheme != "https" or not parts.hostname or " " in url:
        r.fail(
            "alarmHttpsEndpoint",
            "must be an https:// URL with a host (SNS delivers over TLS only) or empty",
            url,
            r.set_fix("alarmHttpsEndpoint", "https://events.example.com/sns"),
        )
    return url


def read_monitoring(r: Reader, database: DatabaseSettings) -> MonitoringSettings:
    notifications = r.boolean("alarmNotifications")
    emails = _emails(r)
    https = _https_endpoint(r)
    if notifications and not emails and https is None:
        r.fail(
            "alarmNotifications",
            "true needs alarmEmails or alarmHttpsEndpoint to deliver to",
            notifications,
            f"{r.set_fix('alarmEmails', EMAIL_EXAMPLE)} (or pulumi config set "
            f"alarmNotifications false -s {r.stack} to keep the alarms silent)",
        )
    percent = "percent"
    thresholds = Thresholds(
        evaluation_minutes=r.integer("alarmEvaluationMinutes", 1, 60, "one-minute periods"),
        lambda_errors=r.integer("alarmLambdaErrors", 1, 100_000, "errors per minute"),
        lambda_throttles=r.integer("alarmLambdaThrottles", 1, 100_000, "throttles per minute"),
        lambda_duration_percent=r.integer(
            "alarmLambdaDurationPercent", 10, 100, "percent of the timeout"
        ),
        lambda_concurrency_percent=r.integer(
            "alarmLambdaConcurrencyPercent", 10, 100, "percent of the reserved concurrency"
        ),
        api_5xx_percent=r.integer("alarmApi5xxPercent", 1, 100, percent),
        api_latency_p99_ms=r.integer("alarmApiLatencyP99Ms", 10, 30_000, "milliseconds"),
        target_5xx_per_minute=r.integer("alarmTarget5xxPerMinute", 1, 100_000, "per minute"),
        target_response_p99_ms=r.integer("alarmTargetResponseP99Ms", 10, 60_000, "milliseconds"),
        service_cpu_percent=r.integer("alarmServiceCpuPercent", 10, 100, percent),
        service_memory_percent=r.integer("alarmServiceMemoryPercent", 10, 100, percent),
        db_cpu_percent=r.integer("alarmDbCpuPercent", 10, 100, percent),
        db_free_storage_gb=r.integer("alarmDbFreeStorageGb", 1, 65536, "GiB"),
        db_free_memory_mb=r.integer("alarmDbFreeMemoryMb", 1, 1_048_576, "MiB"),
        db_connections=r.integer("alarmDbConnections", 1, 5000, "connections"),
    )
    storage = database.allocated_storage_gb
    if database.mode == "managed" and thresholds.db_free_storage_gb >= storage:
        r.fail(
            "alarmDbFreeStorageGb",
            f"must be below dbAllocatedStorageGb ({storage}), or the alarm fires from the start",
            thresholds.db_free_storage_gb,
            r.set_fix("alarmDbFreeStorageGb", max(1, storage // 10)),
        )
    return MonitoringSettings(
        notifications=notifications, emails=emails, https_endpoint=https, thresholds=thresholds
    )
