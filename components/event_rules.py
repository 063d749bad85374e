"""EventRules: one EventBridge rule per event-pattern or schedule function, with one shared DLQ.

EventBridge invokes Lambda asynchronously. The rule's retry policy and dead-letter queue cover
only *delivery* (EventBridge could not hand the event to Lambda); once Lambda accepted it, a
function error is retried by Lambda itself and then dropped, never reaching the rule's DLQ. So
each target function also gets an asynchronous invocation configuration on its `live` alias
(retries, maximum event age, and the same queue as its on-failure destination) and its role the
permission to send there
(https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-retain-records.html).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

from components.iam import policy_document
from components.rust_lambda import RustLambda
from declarations.schedule import schedule_problem

TYPE = "rust-on-aws:event_rules:EventRules"
EARLIER_LABELS = {"event": "ecr-push", "timer": "schedule"}
"""The labels the two rules had while the functions were fixed (before declarations, when the
rules were named after their trigger). A stack deployed then keeps those resources under the new
names (Pulumi aliases) instead of replacing them. Replacing would not only churn: the terraform
provider creates the new asynchronous invoke configuration with Lambda's
PutFunctionEventInvokeConfig, which overwrites the alias's one configuration, and then deletes
the old resource, which deletes it: the function would be left with no on-failure destination.
tests/plan/test_upgrade.py diffs the plan of the last commit before declarations against this
one. Remove an entry once no stack older than that remains."""


@dataclass(frozen=True, kw_only=True)
class EventTarget:
    """One function an EventBridge rule invokes: on a schedule, or on events matching a pattern."""

    function: RustLambda
    """Invoked through its `live` alias."""
    label: str
    """Names the rule, the target and their grants (`<component>-<label>`): the function's name."""
    schedule_expression: str | None = None
    """EventBridge rate(...) or cron(...); exactly one of this and `event_pattern`."""
    event_pattern: pulumi.Input[str] | None = None
    """The event pattern as JSON (an output when it names stack resources)."""


@dataclass(frozen=True, kw_only=True)
class EventRulesArgs:
    targets: Sequence[EventTarget]
    """The functions EventBridge invokes (their declarations' event-pattern and schedule)."""
    retry_attempts: int = 4
    """Target retries before the dead-letter queue (0..185). Default 4."""
    max_age_seconds: int = 3600
    """Oldest event EventBridge still retries delivering, seconds (60..86400). Default 3600."""
    function_retry_attempts: int = 2
    """Lambda's own retries of a failed asynchronous invocation (0..2). Default 2."""
    function_max_event_age_seconds: int = 3600
    """Oldest event Lambda still retries after a function error, seconds (60..21600), then it
    goes to the dead-letter queue. Default 3600."""
    tags: dict[str, str] = field(default_factory=dict)
    """Tags on every taggable resource."""


class EventRules(pulumi.ComponentResource):
    dlq_url: pulumi.Output[str]
    dlq_arn: pulumi.Output[str]
    rule_arns: dict[str, pulumi.Output[str]]
    """Each target's rule, by label."""
    dlq_name: pulumi.Output[str]
    rule_names: dict[str, pulumi.Output[str]]
    """Label (the function's name) -> rule name (the `RuleName` metric dimension)."""

    def __init__(
        self, name: str, args: EventRulesArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(TYPE, name, None, opts)
        _validate(name, args)
        child = pulumi.ResourceOptions(parent=self)
        tags = args.tags

        dlq = aws.sqs.Queue(
            f"{name}-dlq",
            sqs_managed_sse_enabled=True,
            message_retention_seconds=14 * 24 * 3600,
            tags=tags,
            opts=child,
        )
        retry = aws.cloudwatch.EventTargetRetryPolicyArgs(
            maximum_event_age_in_seconds=args.max_age_seconds,
            maximum_retry_attempts=args.retry_attempts,
        )
        dead_letter = aws.cloudwatch.EventTargetDeadLetterConfigArgs(arn=dlq.arn)
        self.rule_arns = {}
        self.rule_names = {}
        for target in args.targets:
            label, function = target.label, target.function

            def child_of(
                suffix: str, depends_on: Sequence[pulumi.Resource] = (), label: str = label
            ) -> pulumi.ResourceOptions:
                earlier = EARLIER_LABELS.get(label)
                return pulumi.ResourceOptions(
                    parent=self,
                    depends_on=list(depends_on),
                    aliases=[pulumi.Alias(name=f"{name}-{earlier}{suffix}")] if earlier else None,
                )

            rule = aws.cloudwatch.EventRule(
                f"{name}-{label}",
                description=(
                    f"{label}: {target.schedule_expression}"
                    if target.schedule_expression
                    else f"{label}: its event pattern"
                ),
                schedule_expression=target.schedule_expression,
                event_pattern=target.event_pattern,
                tags=tags,
                opts=child_of(""),
            )
            self.rule_arns[label] = rule.arn
            self.rule_names[label] = rule.name
            permission = aws.lambda_.Permission(
                f"{name}-{label}-invoke",
                action="lambda:InvokeFunction",
                function=function.function_name,
                qualifier=function.alias_name,
                principal="events.amazonaws.com",
                source_arn=rule.arn,
                opts=child_of("-invoke"),
            )
            send = aws.iam.RolePolicy(
                f"{name}-{label}-failures",
                role=function.role_name,
                policy=policy_document(
                    [{"Effect": "Allow", "Action": "sqs:SendMessage", "Resource": dlq.arn}]
                ),
                opts=child_of("-failures"),
            )
            invoke_config = aws.lambda_.FunctionEventInvokeConfig(
                f"{name}-{label}-async",
                function_name=function.function_name,
                qualifier=function.alias_name,
                maximum_retry_attempts=args.function_retry_attempts,
                maximum_event_age_in_seconds=args.function_max_event_age_seconds,
                destination_config=aws.lambda_.FunctionEventInvokeConfigDestinationConfigArgs(
                    on_failure=aws.lambda_.FunctionEventInvokeConfigDestinationConfigOnFailureArgs(
                        destination=dlq.arn
                    )
                ),
                # Lambda checks the role may send to the destination when the config is set.
                opts=child_of("-async", [send]),
            )
            aws.cloudwatch.EventTarget(
                f"{name}-{label}",
                rule=rule.name,
                arn=function.alias_arn,
                retry_policy=retry,
                dead_letter_config=dead_letter,
                opts=child_of("", [permission, invoke_config]),
            )
        aws.sqs.QueuePolicy(
            f"{name}-dlq-policy",
            queue_url=dlq.url,
            policy=pulumi.Output.json_dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Sid": "EventBridgeDeadLetters",
                            "Effect": "Allow",
                            "Principal": {"Service": "events.amazonaws.com"},
                            "Action": "sqs:SendMessage",
                            "Resource": dlq.arn,
                            "Condition": {
                                "ArnEquals": {"aws:SourceArn": list(self.rule_arns.values())}
                            },
                        }
                    ],
                }
            ),
            opts=child,
        )
        self.dlq_url = dlq.url
        self.dlq_arn = dlq.arn
        self.dlq_name = dlq.name
        self.register_outputs({"dlq_arn": self.dlq_arn, "rule_arns": self.rule_arns})


def _validate(name: str, args: EventRulesArgs) -> None:
    if not args.targets:
        raise ValueError(f"EventRules {name}: targets must not be empty")
    labels = [t.label for t in args.targets]
    if len(set(labels)) != len(labels):
        raise ValueError(f"EventRules {name}: target labels must be unique, got {labels}")
    for target in args.targets:
        if (target.schedule_expression is None) == (target.event_pattern is None):
            raise ValueError(
                f"EventRules {name}: target {target.label} needs exactly one of "
                "schedule_expression and event_pattern"
            )
        if target.schedule_expression is not None:
            problem = schedule_problem(target.schedule_expression)
            if problem:
                raise ValueError(
                    f"EventRules {name}: target {target.label} schedule_expression "
                    f"{target.schedule_expression!r}: {problem}"
                )
    if not 0 <= args.retry_attempts <= 185:
        raise ValueError(
            f"EventRules {name}: retry_attempts must be in 0..185, got {args.retry_attempts}"
        )
    if not 60 <= args.max_age_seconds <= 86400:
        raise ValueError(
            f"EventRules {name}: max_age_seconds must be in 60..86400, got {args.max_age_seconds}"
        )
    if not 0 <= args.function_retry_attempts <= 2:
        raise ValueError(
            f"EventRules {name}: function_retry_attempts must be in 0..2 (Lambda's asynchronous "
            f"retries), got {args.function_retry_attempts}"
        )
    if not 60 <= args.function_max_event_age_seconds <= 21600:
        raise ValueError(
            f"EventRules {name}: function_max_event_age_seconds must be in 60..21600, "
            f"got {args.function_max_event_age_seconds}"
        )
