"""Every stack's plan: its alarms (which, thresholds from its own stack file, actions), the
dashboard, and the CodeDeploy groups, with wiring checked through Pulumi's record of which
resource feeds each input (`Plan.fed_by`) rather than through names the mocks invented.

Expected values come from the stack files and Pulumi.yaml's defaults read here with yaml, and
the functions' settings from their crates' Cargo.toml read with tomllib (not through
components/settings or declarations/), AWS's documented metric names and dimensions (cited in
tests/components/test_monitoring.py), and CodeDeploy's API names.
"""

from __future__ import annotations

import json
import math
import re
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from plan.mocks import mock_name
from plan.view import Plan

ROOT = Path(__file__).resolve().parents[2]
ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
GROUP = "aws:codedeploy/deploymentGroup:DeploymentGroup"
RUNTIME = ("authorizer", "event", "handler", "timer")
FUNCTIONS = (*RUNTIME, "migrate")


def config(stack: str, key: str) -> Any:
    """A key's value for the stack: its stack file, else Pulumi.yaml's declared default."""
    values = yaml.safe_load((ROOT / f"Pulumi.{stack}.yaml").read_text())["config"]
    declared = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())["config"]
    full = f"rust-on-aws:{key}"
    return values[full] if full in values else declared[full]["default"]


def function_setting(stack: str, function: str, field: str) -> Any:
    """The stack's `function.<name>.<field>` override, else what the crate declares."""
    values = yaml.safe_load((ROOT / f"Pulumi.{stack}.yaml").read_text())["config"]
    override = f"rust-on-aws:function.{function}.{field}"
    if override in values:
        return values[override]
    crate = tomllib.loads((ROOT / "app" / function / "Cargo.toml").read_text())
    return crate["package"]["metadata"]["rust-on-aws"]["function"].get(field)


def physical(entry: dict[str, Any]) -> str:
    """A resource's name in AWS: its `name` input, or the auto-name the mocks give it."""
    return str(entry["inputs"].get("name") or mock_name(entry["type"], entry["name"]))


def alarms(plan: Plan, stack: str) -> dict[str, dict[str, Any]]:
    prefix = f"rust-on-aws-{stack}-monitoring-"
    return {e["inputs"]["name"].removeprefix(prefix): e for e in plan.of(ALARM)}


def expected_alarms(stack: str) -> set[str]:
    found = {f"{f}-{k}" for f in FUNCTIONS for k in ("errors", "throttles", "duration-p99")}
    if (function_setting(stack, "handler", "reserved-concurrency") or 0) > 1:
        found.add("handler-concurrency")
    return found | {
        "api-5xx-rate", "api-latency-p99",
        "alb-target-5xx", "alb-unhealthy-hosts", "alb-response-time-p99",
        "ecs-running-below-desired", "ecs-cpu", "ecs-memory",
        "rds-cpu", "rds-free-storage", "rds-free-memory", "rds-connections",
        "events-dlq-visible", "rule-event-failed", "rule-timer-failed",
    }  # fmt: skip


def test_alarms_cover_every_function_the_api_the_service_the_database_and_the_queue(
    plan: Plan, stack: str
) -> None:
    found = alarms(plan, stack)
    assert set(found) == expected_alarms(stack)
    assert len(found) == {"dev": 30, "sandbox": 30, "prod": 31}[stack]


def test_every_alarm_acts_on_the_stacks_topic(plan: Plan, stack: str) -> None:
    topic = plan.one("aws:sns/topic:Topic")
    assert topic["inputs"]["name"] == f"rust-on-aws-{stack}-monitoring-alarms"
    for entry in plan.of(ALARM):
        for key in ("alarmActions", "okActions"):
            assert [e["urn"] for e in plan.fed_by(entry, key)] == [topic["urn"]]
            [arn] = entry["inputs"][key]
            assert re.fullmatch(rf"arn:aws:sns:eu-west-1:\d{{12}}:{physical(topic)}", arn)


def _by_urn_name(plan: Plan, entry: dict[str, Any], key: str) -> set[str]:
    return {e["name"] for e in plan.fed_by(entry, key)}


def test_each_alarm_watches_the_resource_it_is_made_from(plan: Plan, stack: str) -> None:
    found = alarms(plan, stack)
    p = f"rust-on-aws-{stack}"
    for function in FUNCTIONS:
        entry = found[f"{function}-errors"]
        fn = plan.one("aws:lambda/function:Function", f"{p}-{function}")
        assert _by_urn_name(plan, entry, "dimensions") == {fn["name"]}
        assert entry["inputs"]["dimensions"] == {"FunctionName": physical(fn)}
    api = plan.one("aws:apigateway/restApi:RestApi")
    stage = plan.one("aws:apigateway/stage:Stage")
    assert _by_urn_name(plan, found["api-5xx-rate"], "dimensions") == {api["name"], stage["name"]}
    assert found["api-5xx-rate"]["inputs"]["dimensions"] == {
        "ApiName": physical(api),
        "Stage": config(stack, "apiStageName"),
    }
    lb = plan.one("aws:lb/loadBalancer:LoadBalancer")
    tg = plan.one("aws:lb/targetGroup:TargetGroup")
    assert _by_urn_name(plan, found["alb-unhealthy-hosts"], "dimensions") == {
        lb["name"],
        tg["name"],
    }
    dims = found["alb-unhealthy-hosts"]["inputs"]["dimensions"]
    # app/<name>/<16 hex> and targetgroup/<name>/<16 hex> (the ALB metrics page)
    assert re.fullmatch(r"app/[A-Za-z0-9-]+/[0-9a-f]{16}", dims["LoadBalancer"])
    assert re.fullmatch(r"targetgroup/[A-Za-z0-9-]+/[0-9a-f]{16}", dims["TargetGroup"])
    assert _by_urn_name(plan, found["ecs-cpu"], "dimensions") == {
        f"{p}-server-cluster",
        f"{p}-server-service",
    }
    running = found["ecs-running-below-desired"]
    assert _by_urn_name(plan, running, "metricQueries") == {
        f"{p}-server-cluster",
        f"{p}-server-service",
    }
    assert _by_urn_name(plan, found["rds-free-storage"], "dimensions") == {f"{p}-db-instance"}
    queue = plan.one("aws:sqs/queue:Queue")
    assert _by_urn_name(plan, found["events-dlq-visible"], "dimensions") == {queue["name"]}
    assert found["events-dlq-visible"]["inputs"]["dimensions"] == {"QueueName": physical(queue)}
    for label in ("event", "timer"):
        rule = plan.one("aws:cloudwatch/eventRule:EventRule", f"{p}-events-{label}")
        entry = found[f"rule-{label}-failed"]
        assert _by_urn_name(plan, entry, "dimensions") == {rule["name"]}


def test_thresholds_are_the_stacks_own(plan: Plan, stack: str) -> None:
    found = {k: e["inputs"] for k, e in alarms(plan, stack).items()}
    minutes = config(stack, "alarmEvaluationMinutes")
    assert found["handler-errors"]["threshold"] == config(stack, "alarmLambdaErrors")
    assert found["handler-errors"]["evaluationPeriods"] == minutes
    assert found["timer-throttles"]["threshold"] == config(stack, "alarmLambdaThrottles")
    percent = config(stack, "alarmLambdaDurationPercent")
    api_timeout, event_timeout = (
        function_setting(stack, "handler", "timeout"),
        function_setting(stack, "event", "timeout"),
    )
    assert found["handler-duration-p99"]["threshold"] == pytest.approx(api_timeout * 10 * percent)
    assert found["event-duration-p99"]["threshold"] == pytest.approx(event_timeout * 10 * percent)
    migration = function_setting(stack, "migrate", "timeout")
    assert found["migrate-duration-p99"]["threshold"] == pytest.approx(migration * 10 * percent)
    if "handler-concurrency" in found:
        reserved = function_setting(stack, "handler", "reserved-concurrency")
        share = config(stack, "alarmLambdaConcurrencyPercent")
        assert found["handler-concurrency"]["threshold"] == math.ceil(reserved * share / 100)
    assert found["api-5xx-rate"]["threshold"] == pytest.approx(
        config(stack, "alarmApi5xxPercent") / 100
    )
    assert found["api-latency-p99"]["threshold"] == config(stack, "alarmApiLatencyP99Ms")
    assert found["alb-response-time-p99"]["threshold"] == pytest.approx(
        config(stack, "alarmTargetResponseP99Ms") / 1000
    )
    assert found["rds-free-storage"]["threshold"] == config(stack, "alarmDbFreeStorageGb") * 2**30
    assert found["rds-connections"]["threshold"] == config(stack, "alarmDbConnections")
    assert found["events-dlq-visible"]["threshold"] == 1
    assert found["events-dlq-visible"]["evaluationPeriods"] == 1


def test_notifications_per_stack(plan: Plan, stack: str) -> None:
    subscriptions = sorted(
        (s["inputs"]["protocol"], s["inputs"]["endpoint"])
        for s in plan.of("aws:sns/topicSubscription:TopicSubscription")
    )
    expected = {
        "dev": [],  # alarmNotifications false: the alarms, no one paged
        "sandbox": [("email", "oncall-sandbox@fleet.example.com")],
        "prod": [("email", "oncall@fleet.example.com"), ("https", "<secret>")],
    }
    assert subscriptions == expected[stack]


def test_the_dashboard_names_real_resources_of_the_plan(plan: Plan, stack: str) -> None:
    dashboard = plan.one("aws:cloudwatch/dashboard:Dashboard")
    assert dashboard["inputs"]["dashboardName"] == f"rust-on-aws-{stack}-monitoring"
    widgets = json.loads(dashboard["inputs"]["dashboardBody"])["widgets"]
    real: dict[str, set[str]] = {
        "FunctionName": {physical(e) for e in plan.of("aws:lambda/function:Function")},
        "ApiName": {physical(e) for e in plan.of("aws:apigateway/restApi:RestApi")},
        "Stage": {e["inputs"]["stageName"] for e in plan.of("aws:apigateway/stage:Stage")},
        "ClusterName": {physical(e) for e in plan.of("aws:ecs/cluster:Cluster")},
        "ServiceName": {physical(e) for e in plan.of("aws:ecs/service:Service")},
        "DBInstanceIdentifier": {physical(e) for e in plan.of("aws:rds/instance:Instance")},
        "QueueName": {physical(e) for e in plan.of("aws:sqs/queue:Queue")},
        # A rule's name as its target names it (a renamed rule keeps its deployed name).
        "RuleName": {
            t["inputs"]["rule"] for t in plan.of("aws:cloudwatch/eventTarget:EventTarget")
        },
        "LoadBalancer": {
            f"app/{physical(e)}/" for e in plan.of("aws:lb/loadBalancer:LoadBalancer")
        },
        "TargetGroup": {"targetgroup/"},
    }
    named: dict[str, set[str]] = {k: set() for k in real}
    for widget in widgets:
        for line in widget["properties"].get("metrics", []):
            if not isinstance(line[0], str):
                continue  # a metric math expression
            for dim, value in zip(line[2:-1:2], line[3:-1:2], strict=True):
                named[dim].add(value)
                ok = any(value.startswith(r) for r in real[dim]) if dim in (
                    "LoadBalancer", "TargetGroup") else value in real[dim]  # fmt: skip
                assert ok, (dim, value)
    # every kind of resource drawn, every function among them
    assert named["FunctionName"] == real["FunctionName"]
    assert all(named.values())
    fed = {e["type"] for e in plan.fed_by(dashboard, "dashboardBody")}
    assert fed >= {
        "aws:lambda/function:Function", "aws:apigateway/restApi:RestApi",
        "aws:apigateway/stage:Stage", "aws:lb/loadBalancer:LoadBalancer",
        "aws:lb/targetGroup:TargetGroup", "aws:ecs/cluster:Cluster", "aws:ecs/service:Service",
        "aws:rds/instance:Instance", "aws:sqs/queue:Queue", "aws:cloudwatch/eventRule:EventRule",
        ALARM,
    }  # fmt: skip
    [status] = [w for w in widgets if w["type"] == "alarm"]
    assert len(status["properties"]["alarms"]) == len(plan.of(ALARM))


ROUTING = {
    # Pulumi.<stack>.yaml: dev all at once, sandbox linear 25% a minute, prod canary 10% 10 min
    "dev": {"type": "AllAtOnce"},
    "sandbox": {"type": "TimeBasedLinear", "timeBasedLinear": {"percentage": 25, "interval": 1}},
    "prod": {"type": "TimeBasedCanary", "timeBasedCanary": {"percentage": 10, "interval": 10}},
}


def test_a_deployment_group_per_runtime_function_rolling_back_on_its_errors_alarm(
    plan: Plan, stack: str
) -> None:
    config_entry = plan.one("aws:codedeploy/deploymentConfig:DeploymentConfig")
    assert config_entry["inputs"]["computePlatform"] == "Lambda"
    assert config_entry["inputs"]["trafficRoutingConfig"] == ROUTING[stack]
    app = plan.one("aws:codedeploy/application:Application")
    assert app["inputs"]["computePlatform"] == "Lambda"
    found = alarms(plan, stack)
    groups = plan.of(GROUP)
    assert len(groups) == len(RUNTIME)  # the migration moves with `pulumi up`
    for function in RUNTIME:
        fn = plan.one("aws:lambda/function:Function", f"rust-on-aws-{stack}-{function}")
        [group] = [g for g in groups if plan.fed_by(g, "deploymentGroupName") == [fn]]
        inputs = group["inputs"]
        assert inputs["deploymentGroupName"] == physical(fn)
        assert [e["urn"] for e in plan.fed_by(group, "alarmConfiguration")] == [
            found[f"{function}-errors"]["urn"]
        ]
        assert inputs["alarmConfiguration"]["enabled"] is True
        assert "DEPLOYMENT_STOP_ON_ALARM" in inputs["autoRollbackConfiguration"]["events"]
        assert [e["urn"] for e in plan.fed_by(group, "deploymentConfigName")] == [
            config_entry["urn"]
        ]
        assert [e["urn"] for e in plan.fed_by(group, "appName")] == [app["urn"]]


def test_codedeploy_owns_the_runtime_aliases_and_pulumi_the_migrations(
    plan: Plan, stack: str
) -> None:
    for function in FUNCTIONS:
        alias = plan.one("aws:lambda/alias:Alias", f"rust-on-aws-{stack}-{function}-live")
        expected = [] if function == "migrate" else ["functionVersion", "routingConfig"]
        assert alias["ignoreChanges"] == expected, function
        # still created only after the migration ran (RustLambdaArgs.live_after)
        invocation = plan.one("aws:lambda/invocation:Invocation")
        if function != "migrate":
            assert invocation["urn"] in alias["dependsOn"]
