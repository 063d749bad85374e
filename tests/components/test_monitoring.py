"""components/monitoring.py under mocks.

Independent truths: AWS's documented metric names, statistics and dimensions (each section
cites its page), the units AWS publishes them in (TargetResponseTime in seconds, FreeStorageSpace
and FreeableMemory in bytes), the SNS and CloudWatch ARN formats of the Service Authorization
Reference, CloudWatch's dashboard body structure, and thresholds worked out by hand here.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

import pytest

from components.monitoring import Monitoring, MonitoringArgs
from components.rust_lambda import RustLambda, RustLambdaArgs
from components.settings import Thresholds
from plan.view import Plan, policy_json
from tests.components.conftest import SECRET

ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
TOPIC = "aws:sns/topic:Topic"
SUBSCRIPTION = "aws:sns/topicSubscription:TopicSubscription"
#: arn:aws:sns:<region>:<account>:<topic> and arn:aws:cloudwatch:<region>:<account>:alarm:<name>
#: (https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazonsns.html,
#: https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazoncloudwatch.html)
SNS_ARN = re.compile(r"arn:aws:sns:eu-west-1:\d{12}:(?P<name>[A-Za-z0-9_-]{1,256})")
ALARM_ARN = re.compile(r"arn:aws:cloudwatch:eu-west-1:\d{12}:alarm:(?P<name>.+)")


@dataclass(frozen=True)
class Api:
    api_name: str = "fleet-api"
    stage_name: str = "v1"


@dataclass(frozen=True)
class Svc:
    # The dimension values' shapes as the ALB metrics page shows them
    # (https://docs.aws.amazon.com/elasticloadbalancing/latest/application/load-balancer-cloudwatch-metrics.html).
    load_balancer_arn_suffix: str = "app/my-load-balancer/50dc6c495c0c9188"
    target_group_arn_suffix: str = "targetgroup/my-targets/73e2d6bc24d8a067"
    cluster_name: str = "fleet-cluster"
    service_name: str = "fleet-service"


@dataclass(frozen=True)
class Db:
    instance_identifier: str | None = "fleet-db"


THRESHOLDS = Thresholds(
    evaluation_minutes=4,
    lambda_errors=3,
    lambda_throttles=2,
    lambda_duration_percent=80,
    lambda_concurrency_percent=75,
    api_5xx_percent=5,
    api_latency_p99_ms=2500,
    target_5xx_per_minute=7,
    target_response_p99_ms=1500,
    service_cpu_percent=85,
    service_memory_percent=70,
    db_cpu_percent=90,
    db_free_storage_gb=2,
    db_free_memory_mb=64,
    db_connections=80,
)


def monitored(manifest: Any, **changes: Any) -> Any:
    """A program: three functions (10 s unreserved; 20 s reserving 200; 300 s reserving 1)
    and every other kind of watched resource, with `changes` to MonitoringArgs."""

    def program() -> None:
        def fn(name: str, timeout: int, reserved: int | None) -> RustLambda:
            return RustLambda(
                name,
                RustLambdaArgs(
                    artifact=manifest.functions["handler"],
                    runtime="provided.al2023",
                    vpc_id="vpc-1",
                    subnet_ids=["subnet-a"],
                    db_secret_arn=SECRET,
                    timeout_seconds=timeout,
                    reserved_concurrency=reserved,
                    alias_managed_by="codedeploy" if name != "serial" else "pulumi",
                ),
            )

        base: dict[str, Any] = {
            "functions": {"api": fn("api", 10, None), "busy": fn("busy", 20, 200),
                          "serial": fn("serial", 300, 1)},
            "thresholds": THRESHOLDS,
            "api": Api(),
            "service": Svc(),
            "database": Db(),
            "dead_letter_queues": {"events-dlq": "events-dlq-0a1b2c3"},
            "event_rules": {"push": "push-rule-1234567"},
            "emails": ["oncall@example.com", "second@example.com"],
            "https_endpoint": "https://events.example.com/sns?key=abc",
        }  # fmt: skip
        base.update(changes)
        Monitoring("mon", MonitoringArgs(**base))

    return program


def alarms(plan: Plan) -> dict[str, dict[str, Any]]:
    return {e["inputs"]["name"]: e for e in plan.of(ALARM)}


# Lambda metrics: AWS/Lambda, by FunctionName; Errors and Throttles counted (Sum), Duration in
# milliseconds, ConcurrentExecutions the most at once
# (https://docs.aws.amazon.com/lambda/latest/dg/monitoring-metrics-types.html).
FUNCTION_ALARMS = {
    # alarm name: (metric, statistic, comparison, threshold)
    "mon-api-errors": ("Errors", "Sum", "GreaterThanOrEqualToThreshold", 3),
    "mon-api-throttles": ("Throttles", "Sum", "GreaterThanOrEqualToThreshold", 2),
    "mon-api-duration-p99": ("Duration", "p99", "GreaterThanThreshold", 8000),  # 80% of 10 s
    "mon-busy-errors": ("Errors", "Sum", "GreaterThanOrEqualToThreshold", 3),
    "mon-busy-throttles": ("Throttles", "Sum", "GreaterThanOrEqualToThreshold", 2),
    "mon-busy-duration-p99": ("Duration", "p99", "GreaterThanThreshold", 16000),  # 80% of 20 s
    "mon-busy-concurrency": (  # 75% of the 200 reserved
        "ConcurrentExecutions", "Maximum", "GreaterThanOrEqualToThreshold", 150,
    ),
    "mon-serial-errors": ("Errors", "Sum", "GreaterThanOrEqualToThreshold", 3),
    "mon-serial-throttles": ("Throttles", "Sum", "GreaterThanOrEqualToThreshold", 2),
    "mon-serial-duration-p99": ("Duration", "p99", "GreaterThanThreshold", 240000),  # 80% of 300 s
}  # fmt: skip


def test_every_function_alarms_on_errors_throttles_duration_and_its_reservation(
    run, manifest
) -> None:
    plan = run(monitored(manifest))
    found = alarms(plan)
    lambda_alarms = {n: a for n, a in found.items() if a["inputs"].get("namespace") == "AWS/Lambda"}
    assert set(lambda_alarms) == set(FUNCTION_ALARMS)  # no concurrency alarm for a reservation of 1
    for name, (metric, stat, comparison, threshold) in FUNCTION_ALARMS.items():
        entry = found[name]
        inputs = entry["inputs"]
        function = name.split("-")[1]
        assert inputs["metricName"] == metric
        assert inputs.get("extendedStatistic", inputs.get("statistic")) == stat
        assert (inputs["comparisonOperator"], inputs["threshold"]) == (comparison, threshold)
        assert inputs["dimensions"] == {"FunctionName": function}
        assert {e["name"] for e in plan.fed_by(entry, "dimensions")} == {function}
        assert inputs["period"] == 60
        assert (inputs["evaluationPeriods"], inputs["datapointsToAlarm"]) == (4, 4)


def test_the_errors_alarm_says_it_rolls_back_only_where_codedeploy_deploys(run, manifest) -> None:
    found = alarms(run(monitored(manifest)))
    assert "rolls a new version back" in found["mon-api-errors"]["inputs"]["alarmDescription"]
    assert "rolls" not in found["mon-serial-errors"]["inputs"]["alarmDescription"]


# API Gateway: AWS/ApiGateway by ApiName and Stage; 5XXError is 0 or 1 per request (its
# Average is the error rate), Latency in milliseconds
# (https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-metrics-and-dimensions.html).
# ALB: AWS/ApplicationELB; HTTPCode_Target_5XX_Count and TargetResponseTime (seconds) by
# LoadBalancer, UnHealthyHostCount by TargetGroup and LoadBalancer
# (https://docs.aws.amazon.com/elasticloadbalancing/latest/application/load-balancer-cloudwatch-metrics.html).
# ECS: AWS/ECS CPUUtilization and MemoryUtilization by ClusterName and ServiceName
# (https://docs.aws.amazon.com/AmazonECS/latest/developerguide/available-metrics.html).
# RDS: AWS/RDS by DBInstanceIdentifier; FreeStorageSpace and FreeableMemory in bytes
# (https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/rds-metrics.html).
# SQS: AWS/SQS ApproximateNumberOfMessagesVisible by QueueName
# (https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-available-cloudwatch-metrics.html).
# EventBridge: AWS/Events FailedInvocations by RuleName
# (https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-monitoring.html).
LB = {"LoadBalancer": "app/my-load-balancer/50dc6c495c0c9188"}
ECS = {"ClusterName": "fleet-cluster", "ServiceName": "fleet-service"}
OTHER_ALARMS = {
    "mon-api-5xx-rate": ("AWS/ApiGateway", "5XXError", {"ApiName": "fleet-api", "Stage": "v1"},
                         "Average", "GreaterThanThreshold", 0.05),
    "mon-api-latency-p99": ("AWS/ApiGateway", "Latency", {"ApiName": "fleet-api", "Stage": "v1"},
                            "p99", "GreaterThanThreshold", 2500),
    "mon-alb-target-5xx": ("AWS/ApplicationELB", "HTTPCode_Target_5XX_Count", LB, "Sum",
                           "GreaterThanOrEqualToThreshold", 7),
    "mon-alb-unhealthy-hosts": (
        "AWS/ApplicationELB", "UnHealthyHostCount",
        {"TargetGroup": "targetgroup/my-targets/73e2d6bc24d8a067", **LB}, "Maximum",
        "GreaterThanOrEqualToThreshold", 1,
    ),
    "mon-alb-response-time-p99": ("AWS/ApplicationELB", "TargetResponseTime", LB, "p99",
                                  "GreaterThanThreshold", 1.5),
    "mon-ecs-cpu": ("AWS/ECS", "CPUUtilization", ECS, "Average", "GreaterThanThreshold", 85),
    "mon-ecs-memory": ("AWS/ECS", "MemoryUtilization", ECS, "Average", "GreaterThanThreshold", 70),
    "mon-rds-cpu": ("AWS/RDS", "CPUUtilization", {"DBInstanceIdentifier": "fleet-db"}, "Average",
                    "GreaterThanThreshold", 90),
    "mon-rds-free-storage": ("AWS/RDS", "FreeStorageSpace", {"DBInstanceIdentifier": "fleet-db"},
                             "Minimum", "LessThanThreshold", 2 * 1024**3),
    "mon-rds-free-memory": ("AWS/RDS", "FreeableMemory", {"DBInstanceIdentifier": "fleet-db"},
                            "Minimum", "LessThanThreshold", 64 * 1024**2),
    "mon-rds-connections": ("AWS/RDS", "DatabaseConnections",
                            {"DBInstanceIdentifier": "fleet-db"}, "Maximum",
                            "GreaterThanThreshold", 80),
    "mon-events-dlq-visible": ("AWS/SQS", "ApproximateNumberOfMessagesVisible",
                               {"QueueName": "events-dlq-0a1b2c3"}, "Maximum",
                               "GreaterThanOrEqualToThreshold", 1),
    "mon-rule-push-failed": ("AWS/Events", "FailedInvocations", {"RuleName": "push-rule-1234567"},
                             "Sum", "GreaterThanOrEqualToThreshold", 1),
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(OTHER_ALARMS))
def test_the_api_service_database_queue_and_rule_alarms(run, manifest, name: str) -> None:
    namespace, metric, dims, stat, comparison, threshold = OTHER_ALARMS[name]
    inputs = alarms(run(monitored(manifest)))[name]["inputs"]
    assert (inputs["namespace"], inputs["metricName"], inputs["dimensions"]) == (
        namespace,
        metric,
        dims,
    )
    assert inputs.get("extendedStatistic", inputs.get("statistic")) == stat
    assert (inputs["comparisonOperator"], inputs["threshold"]) == pytest.approx(
        (comparison, threshold)
    )
    # "any" alarms fire on the first datapoint, the others after the evaluation window
    first = name in ("mon-events-dlq-visible", "mon-rule-push-failed")
    assert inputs["evaluationPeriods"] == (1 if first else 4)


def test_running_tasks_below_desired_is_metric_math_over_container_insights(run, manifest) -> None:
    """RunningTaskCount and DesiredTaskCount of ECS/ContainerInsights by ClusterName and
    ServiceName (https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/Container-Insights-metrics-ECS.html)."""
    inputs = alarms(run(monitored(manifest)))["mon-ecs-running-below-desired"]["inputs"]
    assert "metricName" not in inputs
    queries = {q["id"]: q for q in inputs["metricQueries"]}
    assert queries["running"]["metric"] == {
        "namespace": "ECS/ContainerInsights",
        "metricName": "RunningTaskCount",
        "dimensions": ECS,
        "period": 60,
        "stat": "Minimum",
    }
    assert queries["desired"]["metric"]["metricName"] == "DesiredTaskCount"
    assert queries["e1"]["expression"] == "desired - running"
    assert [q["id"] for q in inputs["metricQueries"] if q.get("returnData")] == ["e1"]
    assert (inputs["comparisonOperator"], inputs["threshold"]) == (
        "GreaterThanOrEqualToThreshold",
        1,
    )
    assert inputs["evaluationPeriods"] == 4  # the window (4), at least 3 for a scale-out


#: CloudWatch's choices (https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/AlarmThatSendsEmail.html#alarms-and-missing-data).
TREAT_MISSING = {"breaching", "notBreaching", "ignore", "missing"}
#: Where silence is trouble: the running-task count and the database's headroom.
BREACHING = {"mon-ecs-running-below-desired", "mon-rds-free-storage", "mon-rds-free-memory"}
IGNORING = {"mon-ecs-cpu", "mon-ecs-memory", "mon-rds-cpu", "mon-rds-connections"}


def test_every_alarm_notifies_the_topic_both_ways_and_treats_missing_data_on_purpose(
    run, manifest
) -> None:
    plan = run(monitored(manifest))
    topic = plan.one(TOPIC)
    found = alarms(plan)
    assert len(found) == 10 + 14
    for name, entry in found.items():
        inputs = entry["inputs"]
        match = SNS_ARN.fullmatch(inputs["alarmActions"][0])
        assert match and match["name"] == topic["inputs"]["name"]
        assert inputs["alarmActions"] == inputs["okActions"] and len(inputs["okActions"]) == 1
        for key in ("alarmActions", "okActions"):
            assert [e["urn"] for e in plan.fed_by(entry, key)] == [topic["urn"]]
        treat = inputs["treatMissingData"]
        assert treat in TREAT_MISSING
        expected = "breaching" if name in BREACHING else "ignore" if name in IGNORING else None
        assert treat == (expected or "notBreaching"), name
        assert f"Missing data: {treat} (" in inputs["alarmDescription"]


def test_an_external_database_has_no_rds_alarms(run, manifest) -> None:
    found = alarms(run(monitored(manifest, database=Db(instance_identifier=None))))
    assert not [n for n in found if n.startswith("mon-rds-")]


def test_the_topic_is_encrypted_with_a_key_cloudwatch_may_use(run, manifest) -> None:
    """An alarm can publish to an encrypted topic only if the key policy lets CloudWatch use it:
    kms:Decrypt and kms:GenerateDataKey* for cloudwatch.amazonaws.com
    (https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/Notify_Users_Alarm_Changes.html)."""
    plan = run(monitored(manifest))
    topic = plan.one(TOPIC)
    key = plan.one("aws:kms/key:Key")
    assert [e["urn"] for e in plan.fed_by(topic, "kmsMasterKeyId")] == [key["urn"]]
    assert key["inputs"]["enableKeyRotation"] is True
    statements = policy_json(key["inputs"]["policy"])["Statement"]
    cloudwatch = [
        s for s in statements if s["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
    ]
    assert [sorted(s["Action"]) for s in cloudwatch] == [["kms:Decrypt", "kms:GenerateDataKey*"]]
    [policy] = plan.of("aws:sns/topicPolicy:TopicPolicy")
    [publish] = policy_json(policy["inputs"]["policy"])["Statement"]
    assert (publish["Principal"], publish["Action"]) == (
        {"Service": "cloudwatch.amazonaws.com"},
        "sns:Publish",
    )
    assert re.fullmatch(
        r"arn:aws:cloudwatch:eu-west-1:\d{12}:alarm:\*",
        publish["Condition"]["ArnLike"]["aws:SourceArn"],
    )


def test_subscriptions_and_turning_notifications_off(run, manifest) -> None:
    plan = run(monitored(manifest))
    subscriptions = plan.of(SUBSCRIPTION)
    assert sorted((s["inputs"]["protocol"], s["inputs"]["endpoint"]) for s in subscriptions) == [
        ("email", "oncall@example.com"),
        ("email", "second@example.com"),
        ("https", "<secret>"),  # the URL may carry a key: kept as a secret in the state
    ]
    assert all([e["type"] for e in plan.fed_by(s, "topic")] == [TOPIC] for s in subscriptions)
    quiet = run(monitored(manifest, notifications=False))
    assert quiet.of(SUBSCRIPTION) == []
    assert sorted(alarms(quiet)) == sorted(alarms(plan))  # every alarm stays


def _widgets(plan: Plan) -> list[dict[str, Any]]:
    return json.loads(plan.one("aws:cloudwatch/dashboard:Dashboard")["inputs"]["dashboardBody"])[
        "widgets"
    ]


def _normal(line: list[Any]) -> tuple[Any, ...]:
    """A dashboard metrics line [namespace, name, dimension, value, ..., {options}] (the body
    structure's metrics array format) with its dimensions as a set (their order is free)."""
    *head, options = line
    pairs = frozenset(zip(head[2::2], head[3::2], strict=True))
    return (head[0], head[1], pairs, options["stat"], options["id"])


def _alarm_lines(inputs: dict[str, Any]) -> list[tuple[Any, ...]]:
    """The alarm's metrics as a dashboard draws them (normalised by `_normal`)."""
    if "metricQueries" in inputs:
        metrics = [q["metric"] | {"id": q["id"]} for q in inputs["metricQueries"] if "metric" in q]
    else:
        metrics = [
            {
                "namespace": inputs["namespace"],
                "metricName": inputs["metricName"],
                "dimensions": inputs["dimensions"],
                "stat": inputs.get("extendedStatistic", inputs.get("statistic")),
                "id": "m1",
            }
        ]
    lines = []
    for m in metrics:
        dims = [x for pair in m["dimensions"].items() for x in pair]
        lines.append(
            _normal([m["namespace"], m["metricName"], *dims, {"stat": m["stat"], "id": m["id"]}])
        )
    return sorted(lines, key=repr)


def test_the_dashboard_draws_exactly_what_alarms(run, manifest) -> None:
    """One definition, two uses: each alarm has one graph of the same metrics with its threshold,
    and the alarm widget lists every alarm."""
    plan = run(monitored(manifest))
    widgets = _widgets(plan)
    found = alarms(plan)
    [status] = [w for w in widgets if w["type"] == "alarm"]
    matches = [ALARM_ARN.fullmatch(a) for a in status["properties"]["alarms"]]
    assert sorted(m["name"] for m in matches if m) == sorted(found)
    assert all(matches)
    dashboard = plan.one("aws:cloudwatch/dashboard:Dashboard")
    assert {e["name"] for e in plan.fed_by(dashboard, "dashboardBody")} >= set(found)
    graphs = [w for w in widgets if w["type"] == "metric"]
    assert len(graphs) == len(found)
    for name, entry in found.items():
        inputs = entry["inputs"]
        drawn = [
            g
            for g in graphs
            if sorted(
                (_normal(m) for m in g["properties"]["metrics"] if isinstance(m[0], str)), key=repr
            )
            == _alarm_lines(inputs)
        ]
        assert len(drawn) == 1, name
        [line] = drawn[0]["properties"]["annotations"]["horizontal"]
        assert line["value"] == pytest.approx(inputs["threshold"])


def test_the_dashboard_layout_fits_cloudwatchs_grid(run, manifest) -> None:
    """Widgets on a 24-column grid, types metric, text or alarm
    (https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/CloudWatch-Dashboard-Body-Structure.html)."""
    widgets = _widgets(run(monitored(manifest)))
    cells: set[tuple[int, int]] = set()
    for w in widgets:
        assert w["type"] in {"metric", "text", "alarm"}
        assert 1 <= w["width"] <= 24 and 1 <= w["height"] <= 1000
        assert w["x"] >= 0 and w["x"] + w["width"] <= 24
        area = {(x, y) for x in range(w["x"], w["x"] + w["width"])
                for y in range(w["y"], w["y"] + w["height"])}  # fmt: skip
        assert not cells & area, w  # no two widgets overlap
        cells |= area
        if w["type"] == "metric":
            assert w["properties"]["region"] == "eu-west-1"
            assert w["properties"]["period"] == 60


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"functions": {}}, "Monitoring mon: functions must name at least one function, got none"),
        ({"dead_letter_queues": {"Events DLQ": "q"}},
         "Monitoring mon: keys must match [a-z0-9][a-z0-9-]{0,40} (they name alarms), got "
         "'Events DLQ'"),
        ({"emails": ["oncall"]},
         "Monitoring mon: emails must be e-mail addresses (local@domain.tld), got 'oncall'"),
        ({"https_endpoint": "http://events.example.com"},
         "Monitoring mon: https_endpoint must be an https:// URL, got 'http://events.example.com'"),
        ({"emails": [], "https_endpoint": None},
         "Monitoring mon: notifications need emails or an https_endpoint, got neither; pass "
         "one, or notifications=False to keep the alarms silent"),
        ({"thresholds": Thresholds(evaluation_minutes=0)},
         "Monitoring mon: thresholds.evaluation_minutes must be in 1..60, got 0"),
        ({"thresholds": Thresholds(lambda_duration_percent=0)},
         "Monitoring mon: thresholds.lambda_duration_percent must be in 1..100 (percent), got 0"),
    ],
)  # fmt: skip
def test_bad_arguments_are_refused(run, manifest, changes: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError) as info:
        run(monitored(manifest, **changes))
    assert str(info.value) == message
