"""Monitoring: the stack's alarms, the encrypted topic they notify, and one dashboard of them.

One list of `Watch`es (`watches`, a pure function of what is watched and the thresholds) is the
single definition: each watch becomes one CloudWatch alarm and one graph of the dashboard, so
what is drawn is exactly what alarms, with the threshold as a line. Every alarm sends both
`alarm_actions` and `ok_actions` to the topic and says in its description why missing data
counts the way it does.

Metric names and dimensions are AWS's documented ones:
Lambda https://docs.aws.amazon.com/lambda/latest/dg/monitoring-metrics-types.html,
API Gateway https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-metrics-and-dimensions.html,
ALB https://docs.aws.amazon.com/elasticloadbalancing/latest/application/load-balancer-cloudwatch-metrics.html,
ECS https://docs.aws.amazon.com/AmazonECS/latest/developerguide/available-metrics.html and
Container Insights https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/Container-Insights-metrics-ECS.html,
RDS https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/rds-metrics.html,
SQS https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-available-cloudwatch-metrics.html,
EventBridge https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-monitoring.html.

The topic is encrypted with a customer-managed KMS key whose policy lets CloudWatch use it:
an alarm cannot publish to a topic under the AWS-managed `alias/aws/sns` key
(https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/Notify_Users_Alarm_Changes.html).
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import pulumi
import pulumi_aws as aws

from components.rust_lambda import RustLambda
from components.settings.monitoring import EMAIL, Thresholds

TYPE = "rust-on-aws:monitoring:Monitoring"
PERIOD_SECONDS = 60
"""Every alarm evaluates one-minute periods (Lambda, API Gateway, ALB, ECS, RDS and SQS all
publish at that resolution)."""
GIB = 1024**3
MIB = 1024**2
TREAT_MISSING = ("breaching", "notBreaching", "ignore", "missing")
COMPARISONS = (
    "GreaterThanOrEqualToThreshold",
    "GreaterThanThreshold",
    "LessThanThreshold",
    "LessThanOrEqualToThreshold",
)
_KEY = re.compile(r"[a-z0-9][a-z0-9-]{0,40}")
SCALE_OUT_MINUTES = 3
"""A scale-out or a deployment runs fewer tasks than desired for a minute or two while new
ones start: the running-tasks alarm waits at least this long."""

# Why missing data counts as it does, per kind of metric (the alarms' descriptions say it).
NO_TRAFFIC = "no datapoint means no traffic, which is healthy"
ONLY_WHEN_FAILING = "the metric is published only when something fails"
NO_TASKS = "no tasks publish nothing; the running-tasks alarm reports that"
MUST_REPORT = "Container Insights reports both every minute: silence means the service is gone"
RDS_GAP = "a reboot or maintenance gap keeps the last state; a lasting outage shows as API errors"
NO_HEADROOM = "without a datapoint there is no proof of headroom"
IDLE_QUEUE = "SQS stops reporting a queue idle for six hours: no messages"


class MonitoredApi(Protocol):
    """What the API stage alarms need (a `RestApi` has it)."""

    @property
    def api_name(self) -> pulumi.Input[str]: ...
    @property
    def stage_name(self) -> pulumi.Input[str]: ...


class MonitoredService(Protocol):
    """What the load balancer and ECS alarms need (a `Service` has it)."""

    @property
    def load_balancer_arn_suffix(self) -> pulumi.Input[str]: ...
    @property
    def target_group_arn_suffix(self) -> pulumi.Input[str]: ...
    @property
    def cluster_name(self) -> pulumi.Input[str]: ...
    @property
    def service_name(self) -> pulumi.Input[str]: ...


class MonitoredDatabase(Protocol):
    """What the RDS alarms need (a `Database` has it; None identifier: external, no alarms)."""

    @property
    def instance_identifier(self) -> pulumi.Input[str] | None: ...


@dataclass(frozen=True)
class Metric:
    """One CloudWatch metric with the statistic an alarm or graph takes of it."""

    namespace: str
    name: str
    dimensions: Mapping[str, pulumi.Input[str]]
    stat: str
    """Sum, Average, Minimum, Maximum or a percentile such as p99."""
    id: str = "m1"
    """Its id in a metric math expression."""


@dataclass(frozen=True)
class Watch:
    """One thing that must stay on the right side of a threshold: an alarm and a graph."""

    key: str
    """Unique in the stack; the alarm's name is `<component name>-<key>`."""
    section: str
    """The dashboard row it is drawn in."""
    title: str
    """What breaching means, in words (alarm description, graph title)."""
    metrics: tuple[Metric, ...]
    comparison: str
    threshold: float
    evaluation_periods: int
    treat_missing_data: str
    why_missing: str
    expression: str | None = None
    """Metric math over `metrics` (by id); the alarm compares its result."""
    function: str | None = None
    """The function key, for a function's watches."""
    kind: str = ""
    """`errors`, `throttles`, ... within its section."""

    @property
    def description(self) -> str:
        return f"{self.title}. Missing data: {self.treat_missing_data} ({self.why_missing})."


def _function_watches(key: str, fn: RustLambda, t: Thresholds) -> list[Watch]:
    dims = {"FunctionName": fn.function_name}
    section = f"Lambda {key}"
    minutes = t.evaluation_minutes
    duration_ms = fn.timeout_seconds * 1000 * t.lambda_duration_percent / 100
    rollback = " (rolls a new version back)" if fn.alias_managed_by == "codedeploy" else ""
    found = [
        Watch(
            key=f"{key}-errors",
            section=section,
            title=f"{key}: {t.lambda_errors} or more errors a minute{rollback}",
            metrics=(Metric("AWS/Lambda", "Errors", dims, "Sum"),),
            comparison="GreaterThanOrEqualToThreshold",
            threshold=t.lambda_errors,
            evaluation_periods=minutes,
            treat_missing_data="notBreaching",
            why_missing=NO_TRAFFIC,
            function=key,
            kind="errors",
        ),
        Watch(
            key=f"{key}-throttles",
            section=section,
            title=f"{key}: {t.lambda_throttles} or more throttled invocations a minute",
            metrics=(Metric("AWS/Lambda", "Throttles", dims, "Sum"),),
            comparison="GreaterThanOrEqualToThreshold",
            threshold=t.lambda_throttles,
            evaluation_periods=minutes,
            treat_missing_data="notBreaching",
            why_missing=NO_TRAFFIC,
            function=key,
            kind="throttles",
        ),
        Watch(
            key=f"{key}-duration-p99",
            section=section,
            title=(
                f"{key}: p99 duration above {t.lambda_duration_percent}% of its "
                f"{fn.timeout_seconds} s timeout ({duration_ms:g} ms)"
            ),
            metrics=(Metric("AWS/Lambda", "Duration", dims, "p99"),),
            comparison="GreaterThanThreshold",
            threshold=duration_ms,
            evaluation_periods=minutes,
            treat_missing_data="notBreaching",
            why_missing=NO_TRAFFIC,
            function=key,
            kind="duration",
        ),
    ]
    # A reservation of 1 serialises (the migration): it is "near" whenever it runs, and the
    # Throttles alarm already reports contention.
    if fn.reserved_concurrency is not None and fn.reserved_concurrency > 1:
        near = math.ceil(fn.reserved_concurrency * t.lambda_concurrency_percent / 100)
        found.append(
            Watch(
                key=f"{key}-concurrency",
                section=section,
                title=(
                    f"{key}: {near} or more concurrent executions "
                    f"({t.lambda_concurrency_percent}% of its reserved {fn.reserved_concurrency})"
                ),
                metrics=(Metric("AWS/Lambda", "ConcurrentExecutions", dims, "Maximum"),),
                comparison="GreaterThanOrEqualToThreshold",
                threshold=near,
                evaluation_periods=minutes,
                treat_missing_data="notBreaching",
                why_missing=NO_TRAFFIC,
                function=key,
                kind="concurrency",
            )
        )
    return found


def _api_watches(api: MonitoredApi, t: Thresholds) -> list[Watch]:
    dims = {"ApiName": api.api_name, "Stage": api.stage_name}
    return [
        Watch(
            key="api-5xx-rate",
            section="API Gateway",
            # 5XXError is 1 or 0 per request: its Average is the share answered 5xx.
            title=f"API stage: more than {t.api_5xx_percent}% of requests answered 5xx",
            metrics=(Metric("AWS/ApiGateway", "5XXError", dims, "Average"),),
            comparison="GreaterThanThreshold",
            threshold=t.api_5xx_percent / 100,
            evaluation_periods=t.evaluation_minutes,
            treat_missing_data="notBreaching",
            why_missing=NO_TRAFFIC,
            kind="5xx",
        ),
        Watch(
            key="api-latency-p99",
            section="API Gateway",
            title=f"API stage: p99 latency above {t.api_latency_p99_ms} ms",
            metrics=(Metric("AWS/ApiGateway", "Latency", dims, "p99"),),
            comparison="GreaterThanThreshold",
            threshold=t.api_latency_p99_ms,
            evaluation_periods=t.evaluation_minutes,
            treat_missing_data="notBreaching",
            why_missing=NO_TRAFFIC,
            kind="latency",
        ),
    ]


def _service_watches(service: MonitoredService, t: Thresholds) -> list[Watch]:
    lb = {"LoadBalancer": service.load_balancer_arn_suffix}
    tg = {"TargetGroup": service.target_group_arn_suffix, **lb}
    ecs = {"ClusterName": service.cluster_name, "ServiceName": service.service_name}
    minutes = t.evaluation_minutes
    return [
        Watch(
            key="alb-target-5xx",
            section="Load balancer",
            title=f"service targets: {t.target_5xx_per_minute} or more 5xx answers a minute",
            metrics=(Metric("AWS/ApplicationELB", "HTTPCode_Target_5XX_Count", lb, "Sum"),),
            comparison="GreaterThanOrEqualToThreshold",
            threshold=t.target_5xx_per_minute,
            evaluation_periods=minutes,
            treat_missing_data="notBreaching",
            why_missing=NO_TRAFFIC,
            kind="5xx",
        ),
        Watch(
            key="alb-unhealthy-hosts",
            section="Load balancer",
            title="service targets: one or more unhealthy hosts",
            metrics=(Metric("AWS/ApplicationELB", "UnHealthyHostCount", tg, "Maximum"),),
            comparison="GreaterThanOrEqualToThreshold",
            threshold=1,
            evaluation_periods=minutes,
            treat_missing_data="notBreaching",
            why_missing=NO_TASKS,
            kind="unhealthy",
        ),
        Watch(
            key="alb-response-time-p99",
            section="Load balancer",
            # TargetResponseTime is in seconds.
            title=f"service targets: p99 response time above {t.target_response_p99_ms} ms",
            metrics=(Metric("AWS/ApplicationELB", "TargetResponseTime", lb, "p99"),),
            comparison="GreaterThanThreshold",
            threshold=t.target_response_p99_ms / 1000,
            evaluation_periods=minutes,
            treat_missing_data="notBreaching",
            why_missing=NO_TRAFFIC,
            kind="latency",
        ),
        Watch(
            key="ecs-running-below-desired",
            section="ECS service",
            title="service: fewer tasks running than desired",
            metrics=(
                Metric("ECS/ContainerInsights", "RunningTaskCount", ecs, "Minimum", id="running"),
                Metric("ECS/ContainerInsights", "DesiredTaskCount", ecs, "Maximum", id="desired"),
            ),
            expression="desired - running",
            comparison="GreaterThanOrEqualToThreshold",
            threshold=1,
            evaluation_periods=max(minutes, SCALE_OUT_MINUTES),
            treat_missing_data="breaching",
            why_missing=MUST_REPORT,
            kind="running",
        ),
        Watch(
            key="ecs-cpu",
            section="ECS service",
            title=f"service: average CPU above {t.service_cpu_percent}%",
            metrics=(Metric("AWS/ECS", "CPUUtilization", ecs, "Average"),),
            comparison="GreaterThanThreshold",
            threshold=t.service_cpu_percent,
            evaluation_periods=minutes,
            treat_missing_data="ignore",
            why_missing=NO_TASKS,
            kind="cpu",
        ),
        Watch(
            key="ecs-memory",
            section="ECS service",
            title=f"service: average memory above {t.service_memory_percent}%",
            metrics=(Metric("AWS/ECS", "MemoryUtilization", ecs, "Average"),),
            comparison="GreaterThanThreshold",
            threshold=t.service_memory_percent,
            evaluation_periods=minutes,
            treat_missing_data="ignore",
            why_missing=NO_TASKS,
            kind="memory",
        ),
    ]


def _database_watches(instance: pulumi.Input[str], t: Thresholds) -> list[Watch]:
    dims = {"DBInstanceIdentifier": instance}
    minutes = t.evaluation_minutes
    return [
        Watch(
            key="rds-cpu",
            section="Database",
            title=f"database: CPU above {t.db_cpu_percent}%",
            metrics=(Metric("AWS/RDS", "CPUUtilization", dims, "Average"),),
            comparison="GreaterThanThreshold",
            threshold=t.db_cpu_percent,
            evaluation_periods=minutes,
            treat_missing_data="ignore",
            why_missing=RDS_GAP,
            kind="cpu",
        ),
        Watch(
            key="rds-free-storage",
            section="Database",
            title=f"database: less than {t.db_free_storage_gb} GiB of storage free",
            metrics=(Metric("AWS/RDS", "FreeStorageSpace", dims, "Minimum"),),
            comparison="LessThanThreshold",
            threshold=t.db_free_storage_gb * GIB,
            evaluation_periods=minutes,
            treat_missing_data="breaching",
            why_missing=NO_HEADROOM,
            kind="storage",
        ),
        Watch(
            key="rds-free-memory",
            section="Database",
            title=f"database: less than {t.db_free_memory_mb} MiB of memory freeable",
            metrics=(Metric("AWS/RDS", "FreeableMemory", dims, "Minimum"),),
            comparison="LessThanThreshold",
            threshold=t.db_free_memory_mb * MIB,
            evaluation_periods=minutes,
            treat_missing_data="breaching",
            why_missing=NO_HEADROOM,
            kind="memory",
        ),
        Watch(
            key="rds-connections",
            section="Database",
            title=f"database: more than {t.db_connections} connections",
            metrics=(Metric("AWS/RDS", "DatabaseConnections", dims, "Maximum"),),
            comparison="GreaterThanThreshold",
            threshold=t.db_connections,
            evaluation_periods=minutes,
            treat_missing_data="ignore",
            why_missing=RDS_GAP,
            kind="connections",
        ),
    ]


def watches(
    *,
    functions: Mapping[str, RustLambda],
    thresholds: Thresholds,
    api: MonitoredApi | None = None,
    service: MonitoredService | None = None,
    database: MonitoredDatabase | None = None,
    dead_letter_queues: Mapping[str, pulumi.Input[str]] | None = None,
    event_rules: Mapping[str, pulumi.Input[str]] | None = None,
) -> list[Watch]:
    """Everything the stack alarms on and draws, in dashboard order."""
    found: list[Watch] = []
    for key, fn in functions.items():
        found += _function_watches(key, fn, thresholds)
    if api is not None:
        found += _api_watches(api, thresholds)
    if service is not None:
        found += _service_watches(service, thresholds)
    if database is not None and database.instance_identifier is not None:
        found += _database_watches(database.instance_identifier, thresholds)
    for key, queue in (dead_letter_queues or {}).items():
        found.append(
            Watch(
                key=f"{key}-visible",
                section="Dead letters and rules",
                title=f"dead-letter queue {key}: a message is waiting",
                metrics=(
                    Metric(
                        "AWS/SQS",
                        "ApproximateNumberOfMessagesVisible",
                        {"QueueName": queue},
                        "Maximum",
                    ),
                ),
                comparison="GreaterThanOrEqualToThreshold",
                threshold=1,
                evaluation_periods=1,
                treat_missing_data="notBreaching",
                why_missing=IDLE_QUEUE,
                kind="dead-letters",
            )
        )
    for key, rule in (event_rules or {}).items():
        found.append(
            Watch(
                key=f"rule-{key}-failed",
                section="Dead letters and rules",
                title=f"EventBridge rule {key}: an invocation of its target failed",
                metrics=(Metric("AWS/Events", "FailedInvocations", {"RuleName": rule}, "Sum"),),
                comparison="GreaterThanOrEqualToThreshold",
                threshold=1,
                evaluation_periods=1,
                treat_missing_data="notBreaching",
                why_missing=ONLY_WHEN_FAILING,
                kind="failed-invocations",
            )
        )
    return found


def _metric_line(metric: Metric, *, visible: bool = True) -> list[Any]:
    """A dashboard `metrics` entry: [namespace, name, dim, value, ..., {options}]
    (https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/CloudWatch-Dashboard-Body-Structure.html#CloudWatch-Dashboard-Properties-Metrics-Array-Format)."""
    line: list[Any] = [metric.namespace, metric.name]
    for dim, value in metric.dimensions.items():
        line += [dim, value]
    options: dict[str, Any] = {"stat": metric.stat, "id": metric.id}
    if not visible:
        options["visible"] = False
    return [*line, options]


def dashboard_body(
    items: Sequence[Watch], alarm_arns: Sequence[pulumi.Input[str]], region: pulumi.Input[str]
) -> dict[str, Any]:
    """The dashboard: the alarms' states on top, then one graph per watch, row by section
    (https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/CloudWatch-Dashboard-Body-Structure.html)."""
    widgets: list[dict[str, Any]] = [
        {
            "type": "alarm",
            "x": 0,
            "y": 0,
            "width": 24,
            "height": 6,
            "properties": {
                "title": "Alarms",
                "alarms": list(alarm_arns),
                "sortBy": "stateUpdatedTimestamp",
            },
        }
    ]
    y = 6
    sections: dict[str, list[Watch]] = {}
    for item in items:
        sections.setdefault(item.section, []).append(item)
    for section, members in sections.items():
        widgets.append(
            {
                "type": "text",
                "x": 0,
                "y": y,
                "width": 24,
                "height": 1,
                "properties": {"markdown": f"## {section}"},
            }
        )
        y += 1
        for i, item in enumerate(members):
            if item.expression is not None:
                lines = [
                    [{"expression": item.expression, "label": item.title, "id": "e1"}],
                    *(_metric_line(m) for m in item.metrics),
                ]
            else:
                lines = [_metric_line(m) for m in item.metrics]
            widgets.append(
                {
                    "type": "metric",
                    "x": (i % 3) * 8,
                    "y": y + (i // 3) * 6,
                    "width": 8,
                    "height": 6,
                    "properties": {
                        "title": item.title,
                        "view": "timeSeries",
                        "region": region,
                        "period": PERIOD_SECONDS,
                        "metrics": lines,
                        "annotations": {
                            "horizontal": [{"label": "alarm threshold", "value": item.threshold}]
                        },
                    },
                }
            )
        y += math.ceil(len(members) / 3) * 6
    return {"widgets": widgets}


def _slug(text: str) -> str:
    return hashlib.sha256(text.lower().encode()).hexdigest()[:8]


@dataclass(frozen=True, kw_only=True)
class MonitoringArgs:
    functions: Mapping[str, RustLambda]
    """Key (a short name, `[a-z0-9-]`) -> function: Errors, Throttles, Duration p99 alarms, and
    concurrency where a reservation above 1 is set (read from the function)."""
    thresholds: Thresholds = field(default_factory=Thresholds)
    """What every alarm compares against. Default: Pulumi.yaml's defaults."""
    api: MonitoredApi | None = None
    """The REST API stage: 5XXError rate and p99 Latency. Default none."""
    service: MonitoredService | None = None
    """The load-balanced ECS service: target 5xx, unhealthy hosts, p99 response time, running
    tasks below desired, CPU, memory. Default none."""
    database: MonitoredDatabase | None = None
    """The RDS instance: CPU, free storage, freeable memory, connections (nothing for an
    external database). Default none."""
    dead_letter_queues: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    """Key -> queue name: an alarm on the first visible message. Default none."""
    event_rules: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    """Key -> EventBridge rule name: an alarm on the first failed invocation. Default none."""
    notifications: bool = True
    """Subscribe `emails` and `https_endpoint`; false leaves the topic without subscriptions
    (every alarm stays). Default true."""
    emails: Sequence[str] = ()
    """E-mail addresses to notify. Default none."""
    https_endpoint: str | None = None
    """One https:// URL to post to (stored as a secret). Default none."""
    tags: dict[str, str] = field(default_factory=dict)
    """Tags on every taggable resource."""


class Monitoring(pulumi.ComponentResource):
    topic_arn: pulumi.Output[str]
    """The alarm topic: every alarm's `alarm_actions` and `ok_actions`."""
    alarms: dict[str, aws.cloudwatch.MetricAlarm]
    """Watch key -> alarm."""
    errors_alarms: dict[str, aws.cloudwatch.MetricAlarm]
    """Function key -> its Errors alarm (what a CodeDeploy rollout rolls back on)."""
    dashboard_name: pulumi.Output[str]
    dashboard_url: pulumi.Output[str]
    watches: tuple[Watch, ...]

    def __init__(
        self, name: str, args: MonitoringArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(TYPE, name, None, opts)
        self._validate(name, args)
        child = pulumi.ResourceOptions(parent=self)
        tags = args.tags
        items = watches(
            functions=args.functions,
            thresholds=args.thresholds,
            api=args.api,
            service=args.service,
            database=args.database,
            dead_letter_queues=args.dead_letter_queues,
            event_rules=args.event_rules,
        )
        # Unique by construction: each kind of watch has its own suffix or prefix.
        assert len({w.key for w in items}) == len(items), [w.key for w in items]

        identity = aws.get_caller_identity_output()
        region = aws.get_region_output().region
        key = aws.kms.Key(
            f"{name}-key",
            description=f"{name}: the alarm topic (CloudWatch may publish with it)",
            enable_key_rotation=True,
            deletion_window_in_days=30,
            policy=pulumi.Output.json_dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            # The default key policy: IAM policies of this account decide
                            # (https://docs.aws.amazon.com/kms/latest/developerguide/key-policy-default.html).
                            "Sid": "AccountIamPolicies",
                            "Effect": "Allow",
                            "Principal": {
                                "AWS": pulumi.Output.concat(
                                    "arn:aws:iam::", identity.account_id, ":root"
                                )
                            },
                            "Action": "kms:*",
                            "Resource": "*",
                        },
                        {
                            "Sid": "CloudWatchAlarmsPublish",
                            "Effect": "Allow",
                            "Principal": {"Service": "cloudwatch.amazonaws.com"},
                            "Action": ["kms:Decrypt", "kms:GenerateDataKey*"],
                            "Resource": "*",
                        },
                    ],
                }
            ),
            tags=tags,
            opts=child,
        )
        topic = aws.sns.Topic(
            f"{name}-topic",
            name=f"{name}-alarms",
            kms_master_key_id=key.arn,
            tags=tags,
            opts=child,
        )
        aws.sns.TopicPolicy(
            f"{name}-topic-policy",
            arn=topic.arn,
            policy=pulumi.Output.json_dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Sid": "AlarmsOfThisAccount",
                            "Effect": "Allow",
                            "Principal": {"Service": "cloudwatch.amazonaws.com"},
                            "Action": "sns:Publish",
                            "Resource": topic.arn,
                            "Condition": {
                                "ArnLike": {
                                    "aws:SourceArn": pulumi.Output.concat(
                                        "arn:aws:cloudwatch:",
                                        region,
                                        ":",
                                        identity.account_id,
                                        ":alarm:*",
                                    )
                                },
                                "StringEquals": {"aws:SourceAccount": identity.account_id},
                            },
                        }
                    ],
                }
            ),
            opts=child,
        )
        if args.notifications:
            for email in args.emails:
                aws.sns.TopicSubscription(
                    f"{name}-email-{_slug(email)}",
                    topic=topic.arn,
                    protocol="email",
                    endpoint=email,
                    opts=child,
                )
            if args.https_endpoint is not None:
                aws.sns.TopicSubscription(
                    f"{name}-https",
                    topic=topic.arn,
                    protocol="https",
                    endpoint=pulumi.Output.secret(args.https_endpoint),
                    # The endpoint confirms the subscription itself (incident tools do); an
                    # endpoint that does not fails `pulumi up` instead of staying pending.
                    endpoint_auto_confirms=True,
                    opts=child,
                )

        self.alarms = {}
        for item in items:
            self.alarms[item.key] = self._alarm(name, item, topic.arn, tags, child)
        self.errors_alarms = {
            w.function: self.alarms[w.key]
            for w in items
            if w.kind == "errors" and w.function is not None
        }
        dashboard = aws.cloudwatch.Dashboard(
            f"{name}-dashboard",
            dashboard_name=name,
            dashboard_body=pulumi.Output.json_dumps(
                dashboard_body(items, [a.arn for a in self.alarms.values()], region)
            ),
            opts=child,
        )
        self.watches = tuple(items)
        self.topic_arn = topic.arn
        self.dashboard_name = dashboard.dashboard_name
        self.dashboard_url = pulumi.Output.concat(
            "https://",
            region,
            ".console.aws.amazon.com/cloudwatch/home?region=",
            region,
            "#dashboards/dashboard/",
            dashboard.dashboard_name,
        )
        self.register_outputs(
            {
                "topic_arn": self.topic_arn,
                "dashboard_url": self.dashboard_url,
                "alarm_count": len(self.alarms),
            }
        )

    @staticmethod
    def _alarm(
        name: str,
        item: Watch,
        topic_arn: pulumi.Output[str],
        tags: dict[str, str],
        child: pulumi.ResourceOptions,
    ) -> aws.cloudwatch.MetricAlarm:
        """One watch's alarm: its metric (or metric math), threshold, both actions on the
        topic, and its missing-data choice."""
        single = item.metrics[0] if item.expression is None else None
        percentile = single is not None and single.stat.startswith("p")
        queries = (
            [
                *(
                    aws.cloudwatch.MetricAlarmMetricQueryArgs(
                        id=m.id,
                        return_data=False,
                        metric=aws.cloudwatch.MetricAlarmMetricQueryMetricArgs(
                            namespace=m.namespace,
                            metric_name=m.name,
                            dimensions=dict(m.dimensions),
                            period=PERIOD_SECONDS,
                            stat=m.stat,
                        ),
                    )
                    for m in item.metrics
                ),
                aws.cloudwatch.MetricAlarmMetricQueryArgs(
                    id="e1", expression=item.expression, label=item.title, return_data=True
                ),
            ]
            if item.expression is not None
            else None
        )
        return aws.cloudwatch.MetricAlarm(
            f"{name}-{item.key}",
            name=f"{name}-{item.key}",
            alarm_description=item.description,
            namespace=single.namespace if single else None,
            metric_name=single.name if single else None,
            dimensions=dict(single.dimensions) if single else None,
            period=PERIOD_SECONDS if single else None,
            statistic=single.stat if single and not percentile else None,
            extended_statistic=single.stat if single and percentile else None,
            metric_queries=queries,
            comparison_operator=item.comparison,
            threshold=item.threshold,
            evaluation_periods=item.evaluation_periods,
            datapoints_to_alarm=item.evaluation_periods,
            treat_missing_data=item.treat_missing_data,
            alarm_actions=[topic_arn],
            ok_actions=[topic_arn],
            tags=tags,
            opts=child,
        )

    @staticmethod
    def _validate(name: str, args: MonitoringArgs) -> None:
        if not args.functions:
            raise ValueError(
                f"Monitoring {name}: functions must name at least one function, got none"
            )
        for key in [*args.functions, *args.dead_letter_queues, *args.event_rules]:
            if not _KEY.fullmatch(key):
                raise ValueError(
                    f"Monitoring {name}: keys must match {_KEY.pattern} (they name alarms), "
                    f"got {key!r}"
                )
        for email in args.emails:
            if not EMAIL.fullmatch(email):
                raise ValueError(
                    f"Monitoring {name}: emails must be e-mail addresses (local@domain.tld), "
                    f"got {email!r}"
                )
        if args.https_endpoint is not None and not args.https_endpoint.startswith("https://"):
            raise ValueError(
                f"Monitoring {name}: https_endpoint must be an https:// URL, got "
                f"{args.https_endpoint!r}"
            )
        if args.notifications and not args.emails and args.https_endpoint is None:
            raise ValueError(
                f"Monitoring {name}: notifications need emails or an https_endpoint, got "
                "neither; pass one, or notifications=False to keep the alarms silent"
            )
        t = args.thresholds
        if not 1 <= t.evaluation_minutes <= 60:
            raise ValueError(
                f"Monitoring {name}: thresholds.evaluation_minutes must be in 1..60, got "
                f"{t.evaluation_minutes}"
            )
        for field_name in ("lambda_duration_percent", "lambda_concurrency_percent"):
            value = getattr(t, field_name)
            if not 1 <= value <= 100:
                raise ValueError(
                    f"Monitoring {name}: thresholds.{field_name} must be in 1..100 (percent), "
                    f"got {value}"
                )
