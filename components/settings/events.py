"""The events section: EventBridge and Lambda retries of async invocations, ECR image retention."""

from __future__ import annotations

from dataclasses import dataclass

from components.settings.reader import (
    Reader,
)


@dataclass(frozen=True, kw_only=True)
class EventSettings:
    retry_attempts: int
    max_age_seconds: int
    function_retry_attempts: int
    function_max_event_age_seconds: int
    ecr_keep_images: int


def read_events(r: Reader) -> EventSettings:
    return EventSettings(
        retry_attempts=r.integer("eventRetryAttempts", 0, 185, "attempts"),
        max_age_seconds=r.integer("eventMaxAgeSeconds", 60, 86400, "seconds"),
        function_retry_attempts=r.integer("functionRetryAttempts", 0, 2, "attempts"),
        function_max_event_age_seconds=r.integer(
            "functionMaxEventAgeSeconds", 60, 21600, "seconds"
        ),
        ecr_keep_images=r.integer("ecrKeepImages", 1, 1000, "images"),
    )
