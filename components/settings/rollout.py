"""The rollout section: how CodeDeploy shifts a function's `live` alias to a new version.

`all-at-once` moves every request at once; `linear` moves `lambdaDeploymentPercent` more
every `lambdaDeploymentIntervalMinutes`; `canary` moves that share first, then the rest after
one interval. Any of them rolls back when the function's Errors alarm fires during the shift.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from components.settings.reader import Reader

STRATEGIES = ("canary", "linear", "all-at-once")
MAX_ROLLOUT_MINUTES = 120
"""Longest a rollout may shift traffic: the deploy job waits for it (the rollout command's
timeout adds a margin), and a release should not stay half-shifted for an afternoon."""


def shift_minutes(strategy: str, percent: int, interval_minutes: int) -> int:
    """How long CodeDeploy takes to move all traffic, in minutes (0 all at once): a canary
    waits one interval; a linear rollout adds `percent` at the start and after each interval
    until it reaches 100 (https://docs.aws.amazon.com/codedeploy/latest/userguide/deployment-configurations.html)."""
    if strategy == "canary":
        return interval_minutes
    if strategy == "linear":
        return (math.ceil(100 / percent) - 1) * interval_minutes
    return 0


@dataclass(frozen=True, kw_only=True)
class RolloutSettings:
    strategy: Literal["canary", "linear", "all-at-once"]
    percent: int
    """canary: the first share; linear: each step's share (ignored all at once)."""
    interval_minutes: int
    """canary: minutes before the rest; linear: minutes between steps."""

    @property
    def shift_minutes(self) -> int:
        """How long the traffic shift takes, in minutes (0 all at once)."""
        return shift_minutes(self.strategy, self.percent, self.interval_minutes)


def read_rollout(r: Reader) -> RolloutSettings:
    strategy = r.choice("lambdaDeploymentStrategy", STRATEGIES)
    percent = r.integer("lambdaDeploymentPercent", 1, 99, "percent of the traffic")
    interval = r.integer("lambdaDeploymentIntervalMinutes", 1, MAX_ROLLOUT_MINUTES, "minutes")
    if strategy == "linear" and percent > 50:
        r.fail(
            "lambdaDeploymentPercent",
            "must be at most 50 with lambdaDeploymentStrategy linear (at least two steps; "
            "one step is all-at-once)",
            percent,
            r.set_fix("lambdaDeploymentPercent", 10),
        )
    settings = RolloutSettings(
        strategy=strategy,  # type: ignore[arg-type]
        percent=percent,
        interval_minutes=interval,
    )
    if settings.shift_minutes > MAX_ROLLOUT_MINUTES:
        r.fail(
            "lambdaDeploymentIntervalMinutes",
            f"a linear rollout of {percent}% every {interval} minutes takes "
            f"{settings.shift_minutes} minutes; at most {MAX_ROLLOUT_MINUTES}",
            interval,
            r.set_fix(
                "lambdaDeploymentIntervalMinutes",
                max(1, MAX_ROLLOUT_MINUTES // (math.ceil(100 / percent) - 1)),
            ),
        )
    return settings
