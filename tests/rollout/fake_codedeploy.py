"""A CodeDeploy (compute platform Lambda) that shifts traffic and rolls back, for the tests.

Why a fake: moto's CodeDeploy stores deployments but never runs them (the status stays
`Created`, no alias moves, no alarm is read, StopDeployment is not implemented;
`test_moto_codedeploy_records_but_never_deploys` pins that). This fake serves exactly the four
operations `python -m rollout` calls (CreateDeployment, GetDeployment, StopDeployment,
ListDeployments) over CodeDeploy's JSON protocol (`X-Amz-Target: CodeDeploy_20141006.<op>`),
and does what CodeDeploy documents for Lambda deployments
(https://docs.aws.amazon.com/codedeploy/latest/userguide/deployment-steps-lambda.html,
https://docs.aws.amazon.com/codedeploy/latest/userguide/deployment-configurations.html,
https://docs.aws.amazon.com/codedeploy/latest/userguide/deployments-rollback-and-redeploy.html):
it checks the alias is on the AppSpec's CurrentVersion, moves the alias's weights in moto's
Lambda step by step (canary: the share, then all after one interval; linear: the share more per
interval; all at once), reads the group's alarms from moto's CloudWatch at every tick, stops on
an alarm in ALARM (status Stopped, error code ALARM_ACTIVE) or on StopDeployment (MANUAL_STOP),
and rolls back with a second deployment (creator `codeDeployRollback`) that puts the alias back
when the group's auto-rollback events say so.

Every request and response is recorded and checked against botocore's CodeDeploy model
(tests/rollout/contract.py); `violations` lists what did not fit. A minute of the deployment
configuration lasts `minute_seconds` here.
"""

from __future__ import annotations

import json
import secrets
import string
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.rollout.contract import CODEDEPLOY, operation, problems

TARGET_PREFIX = "CodeDeploy_20141006."
OPERATIONS = ("CreateDeployment", "GetDeployment", "StopDeployment", "ListDeployments")
ACTIVE = ("Created", "Queued", "InProgress", "Baking", "Ready")
COMMON_VALIDATION_ERROR = "ValidationError"
COMMON_ERRORS = frozenset({COMMON_VALIDATION_ERROR, "InvalidAction"})


@dataclass(frozen=True)
class Config:
    name: str
    type: str
    """TimeBasedCanary, TimeBasedLinear or AllAtOnce."""
    percent: int = 100
    interval_minutes: int = 0

    def steps(self) -> list[tuple[float, int]]:
        """(share of traffic on the new version, minutes to wait after setting it)."""
        if self.type == "TimeBasedCanary":
            return [(self.percent / 100, self.interval_minutes), (1.0, 0)]
        if self.type == "TimeBasedLinear":
            shares = list(range(self.percent, 100, self.percent))
            return [(s / 100, self.interval_minutes) for s in shares] + [(1.0, 0)]
        return [(1.0, 0)]


@dataclass(frozen=True)
class Group:
    application: str
    name: str
    config: Config
    alarms: tuple[str, ...]
    rollback_events: frozenset[str]


class ServiceError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass
class Deployment:
    id: str
    group: Group
    function: str
    alias: str
    current: str
    target: str
    content_sha256: str
    description: str | None
    creator: str = "user"
    status: str = "Created"
    create_time: float = field(default_factory=time.time)
    start_time: float | None = None
    complete_time: float | None = None
    error: dict[str, str] | None = None
    rollback_info: dict[str, str] | None = None
    stop_requested: bool | None = None
    """None: no stop; else the StopDeployment's autoRollbackEnabled (None in it: the group's)."""
    stop_rollback: bool | None = None

    def info(self) -> dict[str, Any]:
        found: dict[str, Any] = {
            "applicationName": self.group.application,
            "deploymentGroupName": self.group.name,
            "deploymentConfigName": self.group.config.name,
            "deploymentId": self.id,
            # GetDeployment never returns the AppSpec's content, only its sha256
            # (https://docs.aws.amazon.com/codedeploy/latest/APIReference/API_GetDeployment.html).
            "revision": {
                "revisionType": "AppSpecContent",
                "appSpecContent": {"sha256": self.content_sha256},
            },
            "status": self.status,
            "createTime": self.create_time,
            "creator": self.creator,
            "computePlatform": "Lambda",
            "deploymentStyle": {
                "deploymentType": "BLUE_GREEN",
                "deploymentOption": "WITH_TRAFFIC_CONTROL",
            },
            "autoRollbackConfiguration": {
                "enabled": bool(self.group.rollback_events),
                "events": sorted(self.group.rollback_events),
            },
        }
        if self.description:
            found["description"] = self.description
        if self.start_time is not None:
            found["startTime"] = self.start_time
        if self.complete_time is not None:
            found["completeTime"] = self.complete_time
        if self.error is not None:
            found["errorInformation"] = self.error
        if self.rollback_info is not None:
            found["rollbackInfo"] = self.rollback_info
        return found


def _deployment_id() -> str:
    alphabet = string.ascii_uppercase + string.digits
    return "d-" + "".join(secrets.choice(alphabet) for _ in range(9))


class FakeCodeDeploy:
    """Start with `start()` (returns its endpoint URL); `close()` when done."""

    def __init__(self, *, lambda_client: Any, cloudwatch: Any, minute_seconds: float = 0.3) -> None:
        self.lambda_client = lambda_client
        self.cloudwatch = cloudwatch
        self.minute_seconds = minute_seconds
        self.tick = minute_seconds / 20
        self.groups: dict[tuple[str, str], Group] = {}
        self.deployments: dict[str, Deployment] = {}
        self.exchanges: list[dict[str, Any]] = []
        self.violations: list[str] = []
        self._lock = threading.RLock()
        self._threads: list[threading.Thread] = []
        self._server: ThreadingHTTPServer | None = None

    # ---- setup --------------------------------------------------------------------------
    def add_group(self, group: Group) -> None:
        self.groups[(group.application, group.name)] = group

    def start(self) -> str:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                status, payload = fake.handle(self.headers.get("X-Amz-Target", ""), body)
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/x-amz-json-1.1")
                self.send_header("Content-Length", str(len(data)))
                self.send_header("x-amzn-RequestId", secrets.token_hex(16))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
        for thread in self._threads:
            thread.join(timeout=10)

    # ---- the protocol -------------------------------------------------------------------
    def handle(self, target: str, body: bytes) -> tuple[int, dict[str, Any]]:
        name = target.removeprefix(TARGET_PREFIX)
        if not target.startswith(TARGET_PREFIX) or name not in CODEDEPLOY.operation_names:
            self.violations.append(f"unknown operation {target!r}")
            return 400, {"__type": "UnknownOperationException", "message": target}
        request = json.loads(body or b"{}")
        found = problems(operation(name).input_shape, request, f"{name} request")
        self.violations += found
        try:
            if name not in OPERATIONS:
                self.violations.append(f"{name}: not an operation the rollout command should call")
                raise ServiceError("InvalidAction", f"{name} is not served by this fake")
            if found:
                # ValidationError: one of the errors common to every AWS API
                # (https://docs.aws.amazon.com/codedeploy/latest/APIReference/CommonErrors.html).
                raise ServiceError(COMMON_VALIDATION_ERROR, "; ".join(found))
            with self._lock:
                response = getattr(self, f"_{name}")(request)
            self.violations += problems(operation(name).output_shape, response, f"{name} response")
            status = 200
        except ServiceError as err:
            allowed = {e.name for e in operation(name).error_shapes} | COMMON_ERRORS
            if err.code not in allowed:
                self.violations.append(f"{name}: {err.code} is not an error it can return")
            status, response = 400, {"__type": err.code, "message": err.message}
        self.exchanges.append(
            {"operation": name, "request": request, "status": status, "response": response}
        )
        return status, response

    def _group(self, application: str, name: str) -> Group:
        if not any(app == application for app, _ in self.groups):
            raise ServiceError(
                "ApplicationDoesNotExistException", f"No application found for name: {application}"
            )
        group = self.groups.get((application, name))
        if group is None:
            raise ServiceError(
                "DeploymentGroupDoesNotExistException", f"No Deployment Group found for: {name}"
            )
        return group

    def _CreateDeployment(self, request: dict[str, Any]) -> dict[str, Any]:
        group = self._group(request["applicationName"], request.get("deploymentGroupName", ""))
        revision = request.get("revision") or {}
        content = (revision.get("appSpecContent") or {}).get("content")
        if revision.get("revisionType") != "AppSpecContent" or not content:
            raise ServiceError("InvalidRevisionException", "Lambda needs AppSpecContent")
        try:
            spec = json.loads(content)
            [resource] = spec["Resources"]
            [(_, body)] = resource.items()
            props = body["Properties"]
            if spec["version"] != 0.0 or body["Type"] != "AWS::Lambda::Function":
                raise ValueError("version 0.0 and type AWS::Lambda::Function")
            function, alias = props["Name"], props["Alias"]
            current, target = str(props["CurrentVersion"]), str(props["TargetVersion"])
        except (ValueError, KeyError, TypeError) as err:
            raise ServiceError("InvalidRevisionException", f"AppSpec: {err}") from err
        if any(d.group == group and d.status in ACTIVE for d in self.deployments.values()):
            raise ServiceError(
                "DeploymentLimitExceededException",
                f"The Deployment Group '{group.name}' already has an active Deployment",
            )
        sha = (revision.get("appSpecContent") or {}).get("sha256") or ""
        deployment = Deployment(
            id=_deployment_id(),
            group=group,
            function=function,
            alias=alias,
            current=current,
            target=target,
            content_sha256=sha,
            description=request.get("description"),
        )
        self.deployments[deployment.id] = deployment
        self._spawn(deployment)
        return {"deploymentId": deployment.id}

    def _GetDeployment(self, request: dict[str, Any]) -> dict[str, Any]:
        deployment = self.deployments.get(request["deploymentId"])
        if deployment is None:
            raise ServiceError(
                "DeploymentDoesNotExistException", f"Deployment {request['deploymentId']} missing"
            )
        return {"deploymentInfo": deployment.info()}

    def _StopDeployment(self, request: dict[str, Any]) -> dict[str, Any]:
        deployment = self.deployments.get(request["deploymentId"])
        if deployment is None:
            raise ServiceError(
                "DeploymentDoesNotExistException", f"Deployment {request['deploymentId']} missing"
            )
        if deployment.status not in ACTIVE:
            raise ServiceError(
                "DeploymentAlreadyCompletedException", f"{deployment.id} is {deployment.status}"
            )
        deployment.stop_requested = True
        deployment.stop_rollback = request.get("autoRollbackEnabled")
        return {"status": "Pending", "statusMessage": "Stop request accepted"}

    def _ListDeployments(self, request: dict[str, Any]) -> dict[str, Any]:
        group = self._group(request["applicationName"], request.get("deploymentGroupName", ""))
        statuses = set(request.get("includeOnlyStatuses") or [])
        return {
            "deployments": [
                d.id
                for d in self.deployments.values()
                if d.group == group and (not statuses or d.status in statuses)
            ]
        }

    # ---- what CodeDeploy does with a deployment -----------------------------------------
    def _spawn(self, deployment: Deployment) -> None:
        thread = threading.Thread(target=self._drive, args=(deployment,), daemon=True)
        self._threads.append(thread)
        thread.start()

    def _alarms_firing(self, group: Group) -> list[str]:
        found = self.cloudwatch.describe_alarms(AlarmNames=list(group.alarms))["MetricAlarms"]
        return sorted(a["AlarmName"] for a in found if a["StateValue"] == "ALARM")

    def _set_alias(self, d: Deployment, version: str, weights: dict[str, float]) -> None:
        self.lambda_client.update_alias(
            FunctionName=d.function,
            Name=d.alias,
            FunctionVersion=version,
            RoutingConfig={"AdditionalVersionWeights": weights},
        )

    def _end(self, d: Deployment, status: str, code: str | None, message: str) -> None:
        """Finish `d`; roll it back when its group's auto-rollback events cover why."""
        event = {
            "ALARM_ACTIVE": "DEPLOYMENT_STOP_ON_ALARM",
            "MANUAL_STOP": "DEPLOYMENT_STOP_ON_REQUEST",
        }.get(code or "", "DEPLOYMENT_FAILURE")
        rollback = status != "Succeeded" and event in d.group.rollback_events
        if code == "MANUAL_STOP" and d.stop_rollback is not None:
            rollback = d.stop_rollback
        undo: Deployment | None = None
        with self._lock:
            if code is not None:
                d.error = {"code": code, "message": message}
            d.complete_time = time.time()
            if rollback and d.creator == "user":
                undo = Deployment(
                    id=_deployment_id(),
                    group=d.group,
                    function=d.function,
                    alias=d.alias,
                    current=d.target,
                    target=d.current,
                    content_sha256=d.content_sha256,
                    description=f"rollback of {d.id}",
                    creator="codeDeployRollback",
                    rollback_info={"rollbackTriggeringDeploymentId": d.id},
                )
                self.deployments[undo.id] = undo
                d.rollback_info = {
                    "rollbackDeploymentId": undo.id,
                    "rollbackMessage": f"Deployment {d.id} was rolled back by {undo.id}",
                }
            d.status = status
        if undo is not None:
            self._spawn(undo)

    def _wait(self, d: Deployment, minutes: float) -> str | None:
        """Sleep `minutes`, checking alarms and stop requests at every tick; why it stopped."""
        deadline = time.monotonic() + minutes * self.minute_seconds
        while True:
            if d.stop_requested:
                return "MANUAL_STOP"
            if d.creator == "user" and self._alarms_firing(d.group):
                return "ALARM_ACTIVE"
            if time.monotonic() >= deadline:
                return None
            time.sleep(self.tick)

    def _drive(self, d: Deployment) -> None:
        with self._lock:
            d.status = "InProgress"
            d.start_time = time.time()
        if d.creator == "codeDeployRollback":
            # Whatever the stopped deployment had shifted, everything goes back.
            self._set_alias(d, d.target, {})
            self._end(d, "Succeeded", None, "")
            return
        alias = self.lambda_client.get_alias(FunctionName=d.function, Name=d.alias)
        if str(alias["FunctionVersion"]) != d.current:
            self._end(
                d,
                "Failed",
                "INVALID_LAMBDA_CONFIGURATION",
                f"The alias {d.alias} points to version {alias['FunctionVersion']}, not the "
                f"AppSpec's CurrentVersion {d.current}",
            )
            return
        for share, minutes in d.group.config.steps():
            reason = self._wait(d, 0)
            if reason is None:
                if share < 1.0:
                    self._set_alias(d, d.current, {d.target: share})
                else:
                    self._set_alias(d, d.target, {})
                reason = self._wait(d, minutes)
            if reason == "ALARM_ACTIVE":
                firing = ", ".join(self._alarms_firing(d.group))
                self._end(
                    d,
                    "Stopped",
                    reason,
                    "One or more alarms have been activated according to the Amazon CloudWatch "
                    f"metrics you selected, and the deployment has been stopped: {firing}",
                )
                return
            if reason == "MANUAL_STOP":
                self._end(d, "Stopped", reason, "The deployment was stopped by a user request")
                return
        self._end(d, "Succeeded", None, "")


def groups_from_plan(entries: list[dict[str, Any]]) -> list[Group]:
    """The deployment groups a plan creates, with their configuration (the fake's setup comes
    from the program itself, not from the test)."""
    configs = {}
    for e in entries:
        if e["type"] == "aws:codedeploy/deploymentConfig:DeploymentConfig":
            routing = e["inputs"]["trafficRoutingConfig"]
            shape = routing.get("timeBasedCanary") or routing.get("timeBasedLinear") or {}
            configs[e["inputs"]["deploymentConfigName"]] = Config(
                name=e["inputs"]["deploymentConfigName"],
                type=routing["type"],
                percent=int(shape.get("percentage", 100)),
                interval_minutes=int(shape.get("interval", 0)),
            )
    found = []
    for e in entries:
        if e["type"] == "aws:codedeploy/deploymentGroup:DeploymentGroup":
            inputs = e["inputs"]
            rollback = inputs["autoRollbackConfiguration"]
            found.append(
                Group(
                    application=inputs["appName"],
                    name=inputs["deploymentGroupName"],
                    config=configs[inputs["deploymentConfigName"]],
                    alarms=tuple(inputs["alarmConfiguration"]["alarms"]),
                    rollback_events=frozenset(rollback["events"] if rollback["enabled"] else ()),
                )
            )
    return found
