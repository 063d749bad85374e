"""Start one CodeDeploy deployment per function whose alias is behind, and follow each to its end.

For every target: read the alias (`lambda:GetAlias`). On the target version without a split:
unchanged, nothing to do. Splitting traffic: a deployment is running or was cut off, and a new
one would start from a half-shifted alias, so it is refused with the fix. Otherwise
`codedeploy:CreateDeployment` with the AppSpec (alias, current version, target version); the
deployment group brings the configuration, the alarms and the automatic rollback.

Then every `poll_seconds`: `codedeploy:GetDeployment` and the alias's weights, one line when
either changes. A deployment that ends Failed or Stopped with a rollback is followed until the
rollback ends and the alias is checked to be back on the old version. One that runs past the
timeout is stopped with `autoRollbackEnabled`. An ended deployment is believed only when the
alias agrees: Succeeded means the alias is on the target version with no split left.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from rollout.appspec import revision
from rollout.targets import RolloutPlan, Target

TERMINAL = frozenset({"Succeeded", "Failed", "Stopped"})
ACTIVE = ["Created", "Queued", "InProgress", "Baking", "Ready"]
"""DeploymentStatus values of a deployment that has not ended (botocore's codedeploy model)."""
ROLLBACK_GRACE_SECONDS = 300.0
"""How long a rollback may take after the deployment it undoes ended (it moves all at once)."""
OK_RESULTS = ("unchanged", "succeeded")


@dataclass
class Outcome:
    """How one function's rollout ended."""

    target: Target
    result: str
    """unchanged, succeeded, rolled back, failed, timed out or refused."""
    detail: str
    current: str | None = None
    deployment_id: str | None = None
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.result in OK_RESULTS


@dataclass
class _Running:
    target: Target
    current: str
    deployment_id: str
    started: float
    rollback_id: str | None = None
    reason: str = ""
    stopped: bool = False
    ended_at: float | None = None
    last_line: str = ""
    outcome: Outcome | None = field(default=None)


def _error(err: ClientError) -> str:
    info = err.response.get("Error", {})
    return f"{info.get('Code', 'Error')}: {info.get('Message', str(err))}"


class Rollout:
    """One rollout of a stack: `run()` returns an outcome per target, in plan order."""

    def __init__(
        self,
        plan: RolloutPlan,
        *,
        lambda_client: Any,
        codedeploy: Any,
        report: Callable[[str], None],
        poll_seconds: float = 15.0,
        timeout_seconds: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.plan = plan
        self.lambda_client = lambda_client
        self.codedeploy = codedeploy
        self.report = report
        self.poll_seconds = poll_seconds
        self.timeout_seconds = (
            timeout_seconds if timeout_seconds is not None else plan.timeout_minutes * 60.0
        )
        self.clock = clock
        self.sleep = sleep
        self.t0 = clock()

    def _say(self, key: str, text: str) -> None:
        self.report(f"[{self.clock() - self.t0:7.1f} s] {key}: {text}")

    def _alias(self, target: Target) -> tuple[str, dict[str, float]]:
        alias = self.lambda_client.get_alias(FunctionName=target.function_name, Name=target.alias)
        weights = (alias.get("RoutingConfig") or {}).get("AdditionalVersionWeights") or {}
        return str(alias["FunctionVersion"]), {str(k): float(v) for k, v in weights.items()}

    def _traffic(self, target: Target) -> str:
        """Where the alias sends requests, e.g. `10% on version 4` or `all on version 3`."""
        version, weights = self._alias(target)
        if not weights:
            return f"all on version {version}"
        shares = ", ".join(f"{round(w * 100)}% on version {v}" for v, w in sorted(weights.items()))
        return f"{shares}, the rest on version {version}"

    def _start(self, target: Target) -> _Running | Outcome:
        try:
            current, weights = self._alias(target)
        except ClientError as err:
            return Outcome(
                target,
                "refused",
                f"alias {target.alias} of {target.function_name} cannot be read ({_error(err)}); "
                "fix: `pulumi up` creates it",
            )
        if weights:
            active = self.codedeploy.list_deployments(
                applicationName=self.plan.application,
                deploymentGroupName=target.deployment_group,
                includeOnlyStatuses=ACTIVE,
            ).get("deployments", [])
            running = active[0] if active else "<deployment id>"
            return Outcome(
                target,
                "refused",
                f"alias {target.alias} splits traffic ({self._traffic(target)}): a deployment is "
                f"running or was cut off, got active deployments {active}; fix: wait for it, or "
                f"aws deploy stop-deployment --deployment-id {running} --auto-rollback-enabled",
                current=current,
            )
        if current == target.version:
            return Outcome(target, "unchanged", f"already on version {current}", current=current)
        try:
            created = self.codedeploy.create_deployment(
                applicationName=self.plan.application,
                deploymentGroupName=target.deployment_group,
                revision=revision(target.function_name, target.alias, current, target.version),
                description=(
                    f"{target.function_name}:{target.alias} {current} -> {target.version} "
                    "(python -m rollout)"
                ),
            )
        except ClientError as err:
            return Outcome(
                target,
                "refused",
                f"CodeDeploy did not start a deployment in group {target.deployment_group} "
                f"({_error(err)}); fix: wait for its active deployment to end, then run again",
                current=current,
            )
        deployment_id = str(created["deploymentId"])
        self._say(
            target.key,
            f"version {current} -> {target.version}: deployment {deployment_id} "
            f"({self.plan.strategy}, {self.plan.deployment_config})",
        )
        return _Running(target, current, deployment_id, started=self.clock())

    def _finish(self, run: _Running, result: str, detail: str) -> None:
        run.outcome = Outcome(
            run.target,
            result,
            detail,
            current=run.current,
            deployment_id=run.deployment_id,
            seconds=self.clock() - run.started,
        )

    def _poll(self, run: _Running) -> None:
        """One look at the deployment (or at its rollback, once it ended)."""
        following = run.rollback_id is not None
        info = self.codedeploy.get_deployment(deploymentId=run.rollback_id or run.deployment_id)[
            "deploymentInfo"
        ]
        status = str(info["status"])
        line = f"{'rollback ' if following else ''}{status}, {self._traffic(run.target)}"
        if line != run.last_line:
            self._say(run.target.key, line)
            run.last_line = line
        if following:
            self._poll_rollback(run, status)
        else:
            self._poll_deployment(run, status, info)

    def _poll_deployment(self, run: _Running, status: str, info: dict[str, Any]) -> None:
        target = run.target
        now = self.clock()
        if status == "Succeeded":
            version, weights = self._alias(target)
            if version == target.version and not weights:
                self._finish(run, "succeeded", f"all traffic on version {version}")
            else:
                self._finish(
                    run,
                    "failed",
                    f"CodeDeploy reports Succeeded but the alias is on version {version} with "
                    f"weights {weights}; fix: look at deployment {run.deployment_id}",
                )
        elif status in TERMINAL:
            error = info.get("errorInformation") or {}
            run.reason = f"{status}: {error.get('code', 'no code')}: {error.get('message', '')}"
            run.ended_at = now
            rollback = (info.get("rollbackInfo") or {}).get("rollbackDeploymentId")
            if rollback:
                run.rollback_id = str(rollback)
                self._say(target.key, f"{run.reason.strip()}; rolling back in {rollback}")
            else:
                result = "timed out" if run.stopped else "failed"
                self._finish(run, result, f"{run.reason.strip()}; {self._traffic(target)}")
        elif not run.stopped and now - run.started > self.timeout_seconds:
            self.codedeploy.stop_deployment(
                deploymentId=run.deployment_id, autoRollbackEnabled=True
            )
            run.stopped = True
            self._say(
                target.key,
                f"still {status} after {self.timeout_seconds:.0f} s: stopped, rolling back",
            )

    def _poll_rollback(self, run: _Running, status: str) -> None:
        reason = run.reason.strip()
        if status in TERMINAL:
            version, weights = self._alias(run.target)
            if status == "Succeeded" and version == run.current and not weights:
                result = "timed out" if run.stopped else "rolled back"
                self._finish(run, result, f"{reason}; traffic back on version {version}")
            else:
                self._finish(
                    run,
                    "failed",
                    f"{reason}; rollback {run.rollback_id} {status}, {self._traffic(run.target)}",
                )
        elif run.ended_at is not None and self.clock() - run.ended_at > ROLLBACK_GRACE_SECONDS:
            self._finish(
                run,
                "failed",
                f"{reason}; rollback {run.rollback_id} still {status} after "
                f"{ROLLBACK_GRACE_SECONDS:.0f} s; fix: look at it in the CodeDeploy console",
            )

    def run(self) -> list[Outcome]:
        started: list[_Running | Outcome] = [self._start(t) for t in self.plan.targets]
        for item in started:
            if isinstance(item, Outcome):
                self._say(item.target.key, f"{item.result}: {item.detail}")
        running = [item for item in started if isinstance(item, _Running)]
        while True:
            for run in running:
                if run.outcome is None:
                    self._poll(run)
                    if run.outcome is not None:
                        outcome = run.outcome
                        self._say(run.target.key, f"{outcome.result}: {outcome.detail}")
            if all(run.outcome is not None for run in running):
                break
            self.sleep(self.poll_seconds)
        return [item if isinstance(item, Outcome) else item.outcome for item in started]  # type: ignore[misc]
