"""Fixtures: moto's server (Lambda, CloudWatch, IAM), a stack's functions and alarms in it as
the plan of that stack creates them, and the CodeDeploy fake seeded with the plan's deployment
groups; `rollout(...)` runs `python -m rollout` against them in a subprocess."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import threading
import time
import urllib.request
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto.server import ThreadedMotoServer

from plan.mocks import RecordingMonitor
from plan.record import run_plan
from tests.rollout.fake_codedeploy import FakeCodeDeploy, groups_from_plan

ROOT = Path(__file__).resolve().parents[2]
MANIFEST = ROOT / "tests" / "fixtures" / "manifest.json"
REGION = "eu-west-1"
CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_REGION": REGION,
}
MINUTE_SECONDS = 0.5
"""One minute of a deployment configuration in the fake (prod's 10-minute canary: 5 s)."""


@dataclass
class StackPlan:
    entries: list[dict[str, Any]]
    exports: dict[str, Any]

    def alarms(self) -> dict[str, dict[str, Any]]:
        return {
            e["inputs"]["name"]: e["inputs"]
            for e in self.entries
            if e["type"] == "aws:cloudwatch/metricAlarm:MetricAlarm"
        }


@pytest.fixture(scope="session")
def stack_plans() -> Callable[[str], StackPlan]:
    cache: dict[str, StackPlan] = {}

    def plan_of(stack: str) -> StackPlan:
        if stack not in cache:
            monitor = RecordingMonitor()
            entries = run_plan(stack, root=ROOT, manifest=MANIFEST, monitor=monitor)
            cache[stack] = StackPlan(entries, dict(monitor.exports))
        return cache[stack]

    return plan_of


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def aws(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Callable[[str], Any]:
    """client(service) on moto, on a freshly reset moto."""
    for key, value in CREDENTIALS.items():
        monkeypatch.setenv(key, value)
    request = urllib.request.Request(f"{moto_endpoint}/moto-api/reset", method="POST")
    urllib.request.urlopen(request, timeout=10).close()

    def client(service: str) -> Any:
        return boto3.client(service, region_name=REGION, endpoint_url=moto_endpoint)

    return client


def _zip(text: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("bootstrap", text)
    return buffer.getvalue()


@dataclass
class Deployed:
    """A stack as `pulumi up` leaves it: version 1 live, version 2 published, alarms OK."""

    plan: StackPlan
    lambda_client: Any
    cloudwatch: Any
    fake: FakeCodeDeploy
    fake_endpoint: str
    moto_endpoint: str
    tmp: Path
    functions: dict[str, str] = field(default_factory=dict)
    """Key -> function name."""

    def outputs(self, versions: dict[str, str] | None = None) -> Path:
        """The stack's outputs file, each function's published version `versions[key]` (2)."""
        rollout = json.loads(json.dumps(self.plan.exports["rollout"]))
        for key, entry in rollout["functions"].items():
            entry["version"] = (versions or {}).get(key, "2")
        path = self.tmp / "outputs.json"
        path.write_text(json.dumps({**self.plan.exports, "rollout": rollout}))
        return path

    def errors_alarm(self, key: str) -> str:
        [name] = [
            n
            for n, a in self.plan.alarms().items()
            if a.get("metricName") == "Errors"
            and a.get("dimensions", {}).get("FunctionName") == self.functions[key]
        ]
        return name

    def alias(self, key: str) -> tuple[str, dict[str, float]]:
        alias = self.lambda_client.get_alias(FunctionName=self.functions[key], Name="live")
        weights = (alias.get("RoutingConfig") or {}).get("AdditionalVersionWeights") or {}
        return str(alias["FunctionVersion"]), dict(weights)

    def rollout(self, *args: str) -> subprocess.CompletedProcess[str]:
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("AWS_")},
            **CREDENTIALS,
            "AWS_ENDPOINT_URL": self.moto_endpoint,
            "AWS_ENDPOINT_URL_CODEDEPLOY": self.fake_endpoint,
        }
        return subprocess.run(
            [sys.executable, "-m", "rollout", "--poll-seconds", "0.05", *args],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )


@pytest.fixture
def deployed(
    aws: Callable[[str], Any],
    moto_endpoint: str,
    stack_plans: Callable[[str], StackPlan],
    tmp_path: Path,
) -> Iterator[Callable[[str], Deployed]]:
    fakes: list[FakeCodeDeploy] = []

    def make(stack: str) -> Deployed:
        plan = stack_plans(stack)
        lam, cw, iam = aws("lambda"), aws("cloudwatch"), aws("iam")
        role = iam.create_role(
            RoleName="fn",
            AssumeRolePolicyDocument=json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Principal": {"Service": "lambda.amazonaws.com"},
                            "Action": "sts:AssumeRole",
                        }
                    ],
                }
            ),
        )["Role"]["Arn"]
        functions = {}
        for key, entry in plan.exports["rollout"]["functions"].items():
            name = entry["function_name"]
            lam.create_function(
                FunctionName=name,
                Runtime="provided.al2023",
                Role=role,
                Handler="bootstrap",
                Code={"ZipFile": _zip("v1")},
                Publish=True,
            )
            lam.create_alias(FunctionName=name, Name="live", FunctionVersion="1")
            lam.update_function_code(FunctionName=name, ZipFile=_zip("v2"))
            assert lam.publish_version(FunctionName=name)["Version"] == "2"
            functions[key] = name
        for name, alarm in plan.alarms().items():
            single = "metricName" in alarm
            cw.put_metric_alarm(
                AlarmName=name,
                ComparisonOperator=alarm["comparisonOperator"],
                EvaluationPeriods=alarm["evaluationPeriods"],
                Threshold=float(alarm["threshold"]),
                **(
                    {
                        "Namespace": alarm["namespace"],
                        "MetricName": alarm["metricName"],
                        "Dimensions": [
                            {"Name": k, "Value": v} for k, v in alarm["dimensions"].items()
                        ],
                        "Period": alarm["period"],
                        **(
                            {"ExtendedStatistic": alarm["extendedStatistic"]}
                            if "extendedStatistic" in alarm
                            else {"Statistic": alarm["statistic"]}
                        ),
                    }
                    if single
                    else {
                        "Metrics": [
                            {"Id": "e1", "Expression": "m1", "ReturnData": True},
                            {
                                "Id": "m1",
                                "MetricStat": {
                                    "Metric": {"Namespace": "AWS/ECS", "MetricName": "x"},
                                    "Period": 60,
                                    "Stat": "Maximum",
                                },
                                "ReturnData": False,
                            },
                        ]
                    }
                ),
            )
            cw.set_alarm_state(AlarmName=name, StateValue="OK", StateReason="deployed")
        fake = FakeCodeDeploy(lambda_client=lam, cloudwatch=cw, minute_seconds=MINUTE_SECONDS)
        for group in groups_from_plan(plan.entries):
            fake.add_group(group)
        endpoint = fake.start()
        fakes.append(fake)
        return Deployed(plan, lam, cw, fake, endpoint, moto_endpoint, tmp_path, functions)

    yield make
    for fake in fakes:
        fake.close()
        assert fake.violations == [], fake.violations


class Watcher:
    """Records every state a function's alias goes through (polling moto), and can act on one."""

    def __init__(
        self,
        deployed: Deployed,
        key: str,
        on_split: Callable[[], None] | None = None,
    ) -> None:
        self.deployed = deployed
        self.key = key
        self.on_split = on_split
        self.states: list[tuple[str, dict[str, float]]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        fired = False
        while not self._stop.is_set():
            state = self.deployed.alias(self.key)
            if not self.states or self.states[-1] != state:
                self.states.append(state)
            if state[1] and self.on_split is not None and not fired:
                fired = True
                self.on_split()
            time.sleep(0.01)

    def __enter__(self) -> Watcher:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
