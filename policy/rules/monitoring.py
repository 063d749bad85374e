"""Guardrails for operating the stack: alarms that reach someone, and rollouts that roll back.

Relations between resources are made by names, as AWS makes them: an alarm names its metric's
dimensions (`FunctionName`, `QueueName`), an alarm action and a dead-letter target are ARNs
that end in the resource's name, a CodeDeploy deployment group lists its alarms by name. A
resource's name is its `name` input, or, when Pulumi auto-names it, its logical name plus `-`
and seven hex characters (https://www.pulumi.com/docs/iac/concepts/resources/names/#autonaming).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from policy.model import (
    COMPUTED,
    Resource,
    Rule,
    StackRule,
    Unknown,
    as_list,
    by_type,
    dig,
)
from policy.rules.common import EVENT_TARGET, LAMBDA_FUNCTION, SQS_QUEUE

METRIC_ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
SNS_TOPIC = "aws:sns/topic:Topic"
LAMBDA_ALIAS = "aws:lambda/alias:Alias"
LAMBDA_INVOCATION = "aws:lambda/invocation:Invocation"
LAMBDA_INVOKE_CONFIG = "aws:lambda/functionEventInvokeConfig:FunctionEventInvokeConfig"
CODEDEPLOY_APP = "aws:codedeploy/application:Application"
CODEDEPLOY_GROUP = "aws:codedeploy/deploymentGroup:DeploymentGroup"
ALARM_ACTION_KEYS = ("alarmActions", "okActions", "insufficientDataActions")
_ARN = re.compile(
    r"arn:aws[a-z-]*:(?P<service>[a-z0-9-]+):(?P<region>[a-z0-9-]*):\d{12}:(?P<rest>.+)"
)


def _known(value: Any, where: str) -> Any:
    if value == COMPUTED:
        raise Unknown(where)
    return value


def is_named(r: Resource, physical: str) -> bool:
    """Whether `physical` is `r`'s name: its `name` input, or Pulumi's auto-name of it."""
    given = _known(r.props.get("name"), f"{r.name}.name")
    if given:
        return bool(given == physical)
    return re.fullmatch(re.escape(r.name) + r"-[0-9a-f]{7}", physical) is not None


def _arn_names(r: Resource, arn: str, service: str) -> bool:
    """Whether `arn` is `r`'s ARN: equal to its (known) `arn`, or a `service` ARN ending in its
    name (SNS topics and SQS queues: arn:aws:<service>:<region>:<account>:<name>)."""
    if r.props.get("arn") not in (None, COMPUTED):
        return bool(r.props["arn"] == arn)
    match = _ARN.fullmatch(arn)
    return bool(match and match["service"] == service and is_named(r, match["rest"]))


def _metrics(alarm: Resource) -> Iterator[Mapping[str, Any]]:
    """The alarm's metrics ({namespace, metricName, dimensions}), single or in metric math."""
    if dig(alarm.props, "metricName") is not None:
        yield {
            "namespace": dig(alarm.props, "namespace"),
            "metricName": dig(alarm.props, "metricName"),
            "dimensions": dig(alarm.props, "dimensions") or {},
        }
    for query in as_list(dig(alarm.props, "metricQueries")):
        metric = query.get("metric") if isinstance(query, Mapping) else None
        if isinstance(metric, Mapping):
            yield metric


def _watching(
    alarms: Sequence[Resource], namespace: str, metric: str, dimension: str, target: Resource
) -> list[Resource]:
    """The alarms on `namespace`/`metric` whose `dimension` names `target`."""
    found = []
    for alarm in alarms:
        for m in _metrics(alarm):
            if m.get("namespace") != namespace or m.get("metricName") != metric:
                continue
            value = _known((m.get("dimensions") or {}).get(dimension), f"{alarm.name}.dimensions")
            if isinstance(value, str) and is_named(target, value):
                found.append(alarm)
                break
    return found


def _actions(alarm: Resource) -> list[Any]:
    return as_list(dig(alarm.props, "alarmActions"))


def _lambda_errors_alarm(resources: Sequence[Resource]) -> Iterator[tuple[Resource | None, str]]:
    alarms = list(by_type(resources, METRIC_ALARM))
    for fn in by_type(resources, LAMBDA_FUNCTION):
        shown = fn.props.get("name") or fn.name
        errors = _watching(alarms, "AWS/Lambda", "Errors", "FunctionName", fn)
        if not errors:
            yield (
                fn,
                f"function {shown!r} must have an alarm on its errors; got no alarm on AWS/Lambda "
                f"Errors with FunctionName {shown!r}; add one (components/monitoring.py)",
            )
        elif not any(_actions(a) for a in errors):
            yield (
                fn,
                f"function {shown!r}'s Errors alarm must notify someone; got "
                f"{[a.name for a in errors]} without alarm_actions; set alarm_actions to the "
                "stack's alarm topic",
            )


def _dead_letter_arns(resources: Sequence[Resource]) -> Iterator[tuple[Resource, Any]]:
    """(resource, ARN) of every dead-letter destination the stack configures."""
    for r in resources:
        if r.type == EVENT_TARGET:
            yield r, dig(r.props, "deadLetterConfig.arn")
        elif r.type == LAMBDA_FUNCTION:
            yield r, dig(r.props, "deadLetterConfig.targetArn")
        elif r.type == LAMBDA_INVOKE_CONFIG:
            yield r, dig(r.props, "destinationConfig.onFailure.destination")
        elif r.type == SQS_QUEUE:
            policy = dig(r.props, "redrivePolicy")
            if isinstance(policy, str) and policy:
                if COMPUTED in policy:
                    raise Unknown(f"{r.name}.redrivePolicy")
                yield r, json.loads(policy).get("deadLetterTargetArn")


def _dead_letter_queues(resources: Sequence[Resource]) -> list[Resource]:
    arns = [
        _known(arn, f"{owner.name} dead-letter ARN")
        for owner, arn in _dead_letter_arns(resources)
        if arn is not None
    ]
    return [
        q
        for q in by_type(resources, SQS_QUEUE)
        if any(isinstance(a, str) and _arn_names(q, a, "sqs") for a in arns)
    ]


def _fires_on_one_message(alarm: Resource) -> bool:
    comparison = dig(alarm.props, "comparisonOperator")
    threshold = dig(alarm.props, "threshold")
    if not isinstance(threshold, int | float):
        return False
    return (comparison == "GreaterThanOrEqualToThreshold" and threshold <= 1) or (
        comparison == "GreaterThanThreshold" and threshold < 1
    )


def _dlq_alarm(resources: Sequence[Resource]) -> Iterator[tuple[Resource | None, str]]:
    alarms = list(by_type(resources, METRIC_ALARM))
    for queue in _dead_letter_queues(resources):
        watching = _watching(
            alarms, "AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", queue
        )
        useful = [a for a in watching if _fires_on_one_message(a) and _actions(a)]
        if not useful:
            got = (
                f"{[a.name for a in watching]}, none firing on one message with an action"
                if watching
                else "no alarm on AWS/SQS ApproximateNumberOfMessagesVisible for it"
            )
            yield (
                queue,
                f"dead-letter queue {queue.name} must alarm on its first message; got {got}; "
                "alarm at >= 1 visible message with alarm_actions (components/monitoring.py)",
            )


def _alarm_actions_topic(resources: Sequence[Resource]) -> Iterator[tuple[Resource | None, str]]:
    topics = list(by_type(resources, SNS_TOPIC))
    for alarm in by_type(resources, METRIC_ALARM):
        if not _actions(alarm):
            yield (
                alarm,
                "an alarm must notify someone; got no alarm_actions; set alarm_actions (and "
                "ok_actions) to the stack's alarm topic",
            )
        for key in ALARM_ACTION_KEYS:
            for arn in as_list(dig(alarm.props, key)):
                _known(arn, f"{alarm.name}.{key}")
                if not any(isinstance(arn, str) and _arn_names(t, arn, "sns") for t in topics):
                    yield (
                        alarm,
                        f"alarm actions must notify an SNS topic of this stack; got {key} "
                        f"{arn!r}; point it at the stack's alarm topic",
                    )


def _invoked_by_pulumi(resources: Sequence[Resource], fn: Resource) -> bool:
    """A function `pulumi up` runs itself (an Invocation: the migration) takes no traffic."""
    return any(
        isinstance(name, str) and is_named(fn, name)
        for name in (
            _known(dig(i.props, "functionName"), f"{i.name}.functionName")
            for i in by_type(resources, LAMBDA_INVOCATION)
        )
    )


def _group_problems(
    group: Resource, fn: Resource, apps: Sequence[Resource], alarms: Sequence[Resource]
) -> Iterator[str]:
    app_name = _known(dig(group.props, "appName"), f"{group.name}.appName")
    app = [a for a in apps if isinstance(app_name, str) and is_named(a, app_name)]
    if not app or dig(app[0].props, "computePlatform") != "Lambda":
        yield (
            f"its deployment group {group.name} must belong to a CodeDeploy application of "
            f"compute platform Lambda in this stack; got appName {app_name!r}"
        )
    rollback = dig(group.props, "autoRollbackConfiguration") or {}
    events = as_list(rollback.get("events")) if isinstance(rollback, Mapping) else []
    if not (isinstance(rollback, Mapping) and rollback.get("enabled") is True) or (
        "DEPLOYMENT_STOP_ON_ALARM" not in events
    ):
        yield (
            f"its deployment group {group.name} must roll back on alarm; got "
            f"autoRollbackConfiguration={rollback!r}; enable it with DEPLOYMENT_STOP_ON_ALARM"
        )
    config = dig(group.props, "alarmConfiguration") or {}
    names = as_list(config.get("alarms")) if isinstance(config, Mapping) else []
    watching = _watching(alarms, "AWS/Lambda", "Errors", "FunctionName", fn)
    errors = {a.props.get("name") for a in watching}
    if not (isinstance(config, Mapping) and config.get("enabled") is True) or not (
        set(names) & errors
    ):
        yield (
            f"its deployment group {group.name} must watch the function's Errors alarm; got "
            f"alarmConfiguration={config!r}; enable it with the Errors alarm's name"
        )


def _prod_codedeploy(resources: Sequence[Resource]) -> Iterator[tuple[Resource | None, str]]:
    groups = list(by_type(resources, CODEDEPLOY_GROUP))
    apps = list(by_type(resources, CODEDEPLOY_APP))
    alarms = list(by_type(resources, METRIC_ALARM))
    aliases = list(by_type(resources, LAMBDA_ALIAS))
    for fn in by_type(resources, LAMBDA_FUNCTION):
        if not fn.is_production or _invoked_by_pulumi(resources, fn):
            continue
        shown = fn.props.get("name") or fn.name
        mine = [
            g
            for g in groups
            if is_named(fn, str(_known(dig(g.props, "deploymentGroupName"), g.name)))
        ]
        if not mine:
            yield (
                fn,
                f"production function {shown!r} must deploy through CodeDeploy; got no "
                f"deployment group named {shown!r}; add it (components/code_deploy.py)",
            )
            continue
        for problem in _group_problems(mine[0], fn, apps, alarms):
            yield fn, f"production function {shown!r}: {problem}"
        for alias in aliases:
            target = _known(dig(alias.props, "functionName"), f"{alias.name}.functionName")
            moved_by_pulumi = "functionVersion" not in alias.ignore_changes
            if isinstance(target, str) and is_named(fn, target) and moved_by_pulumi:
                yield (
                    fn,
                    f"production function {shown!r}: Pulumi must leave alias {alias.name}'s "
                    f"version to CodeDeploy; got ignore_changes={list(alias.ignore_changes)}; "
                    "build it with alias_managed_by='codedeploy'",
                )


RULES: tuple[Rule, ...] = (
    StackRule("lambda-errors-alarm", "custom",
              "Every Lambda function has an Errors alarm with an alarm action.",
              _lambda_errors_alarm, frozenset({LAMBDA_FUNCTION, METRIC_ALARM})),
    StackRule("dlq-alarm", "custom",
              "Every dead-letter queue has an alarm on its first visible message.",
              _dlq_alarm, frozenset({SQS_QUEUE, METRIC_ALARM})),
    StackRule("alarm-actions-stack-topic", "custom",
              "Every alarm has an action, and every action notifies an SNS topic of the stack.",
              _alarm_actions_topic, frozenset({METRIC_ALARM, SNS_TOPIC})),
    StackRule("lambda-codedeploy-in-prod", "custom",
              "Production functions deploy through CodeDeploy and roll back on their Errors "
              "alarm (the function `pulumi up` invokes itself excepted).",
              _prod_codedeploy,
              frozenset({LAMBDA_FUNCTION, LAMBDA_ALIAS, CODEDEPLOY_GROUP, CODEDEPLOY_APP})),
)  # fmt: skip
