"""The events section: the timer's schedule, EventBridge retries, ECR image retention."""

from __future__ import annotations

from dataclasses import dataclass

from components.settings.reader import (
    Reader,
)
from components.settings.schedule import schedule_problem


@dataclass(frozen=True, kw_only=True)
class EventSettings:
    schedule_expression: str
    retry_attempts: int
    max_age_seconds: int
    function_retry_attempts: int
    function_max_event_age_seconds: int
    ecr_keep_images: int


def read_events(r: Reader) -> EventSettings:
    schedule = r.string("scheduleExpression", "rate(1 hour)")
    problem = schedule_problem(schedule)
    if problem:
        r.fail(
            "scheduleExpression",
            f"{problem} (EventBridge schedule syntax)",
            schedule,
            r.set_fix("scheduleExpression", "rate(1 hour)"),
        )
    return EventSettings(
        schedule_expression=schedule,
        retry_attempts=r.integer("eventRetryAttempts", 0, 185, "attempts"),
        max_age_seconds=r.integer("eventMaxAgeSeconds", 60, 86400, "seconds"),
        function_retry_attempts=r.integer("functionRetryAttempts", 0, 2, "attempts"),
        function_max_event_age_seconds=r.integer(
            "functionMaxEventAgeSeconds", 60, 21600, "seconds"
        ),
        ecr_keep_images=r.integer("ecrKeepImages", 1, 1000, "images"),
    )
