"""EventRules: ECR pushes -> the event Lambda, a schedule -> the timer Lambda, with a DLQ.

EventBridge invokes Lambda asynchronously. The rule's retry policy and dead-letter queue cover
only *delivery* (EventBridge could not hand the event to Lambda); once Lambda accepted it, a
function error is retried by Lambda itself and then dropped, never reaching the rule's DLQ. So
each target function also gets an asynchronous invocation configuration on its `live` alias
(retries, maximum event age, and the same queue as its on-failure destination) and its role the
permission to send there
(https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-retain-records.html).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

from components.iam import policy_document
from components.rust_lambda import RustLambda
from components.settings import schedule_problem

TYPE = "rust-on-aws:event_rules:EventRules"


@dataclass(frozen=True, kw_only=True)
class EventRulesArgs:
    event_function: RustLambda
    """Receives "ECR Image Action" PUSH/SUCCESS events of `repository_name`."""
    timer_function: RustLambda
    """Runs on `schedule_expression`."""
    repository_name: pulumi.Input[str]
    """The ECR repository whose pushes are forwarded."""
    schedule_expression: str = "rate(1 hour)"
    """EventBridge rate(...) or cron(...). Default rate(1 hour)."""
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
    dlq_name: pulumi.Output[str]
    rule_names: dict[str, pulumi.Output[str]]
    """Label (`ecr-push`, `schedule`) -> rule name (the `RuleName` metric dimension)."""
    push_rule_arn: pulumi.Output[str]
    schedule_rule_arn: pulumi.Output[str]

    def __init__(
        self, name: str, args: EventRulesArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(TYPE, name, None, opts)
        problem = schedule_problem(args.schedule_expression)
        if problem:
            raise ValueError(
                f"EventRules {name}: schedule_expression {args.schedule_expression!r}: {problem}"
            )
        if not 0 <= args.retry_attempts <= 185:
            raise ValueError(
                f"EventRules {name}: retry_attempts must be in 0..185, got {args.retry_attempts}"
            )
        if not 60 <= args.max_age_seconds <= 86400:
            raise ValueError(
                f"EventRules {name}: max_age_seconds must be in 60..86400, "
                f"got {args.max_age_seconds}"
            )
        if not 0 <= args.function_retry_attempts <= 2:
            raise ValueError(
                f"EventRules {name}: function_retry_attempts must be in 0..2 (Lambda's "
                f"asynchronous retries), got {args.function_retry_attempts}"
            )
        if not 60 <= args.function_max_event_age_seconds <= 21600:
            raise ValueError(
                f"EventRules {name}: function_max_event_age_seconds must be in 60..21600, "
                f"got {args.function_max_event_age_seconds}"
            )
        child = pulumi.ResourceOptions(parent=self)
        tags = args.tags

        dlq = aws.sqs.Queue(
            f"{name}-dlq",
            sqs_managed_sse_enabled=True,
            message_retention_seconds=14 * 24 * 3600,
            tags=tags,
            opts=child,
        )
        push_rule = aws.cloudwatch.EventRule(
            f"{name}-ecr-push",
            description="ECR image pushes to the service's repository",
            event_pattern=pulumi.Output.json_dumps(
                {
                    "source": ["aws.ecr"],
                    "detail-type": ["ECR Image Action"],
                    "detail": {
                        "action-type": ["PUSH"],
                        "result": ["SUCCESS"],
                        "repository-name": [args.repository_name],
                    },
                }
            ),
            tags=tags,
            opts=child,
        )
        schedule_rule = aws.cloudwatch.EventRule(
            f"{name}-schedule",
            description="the timer's schedule",
            schedule_expression=args.schedule_expression,
            tags=tags,
            opts=child,
        )
        retry = aws.cloudwatch.EventTargetRetryPolicyArgs(
            maximum_event_age_in_seconds=args.max_age_seconds,
            maximum_retry_attempts=args.retry_attempts,
        )
        dead_letter = aws.cloudwatch.EventTargetDeadLetterConfigArgs(arn=dlq.arn)
        for label, rule, function in (
            ("ecr-push", push_rule, args.event_function),
            ("schedule", schedule_rule, args.timer_function),
        ):
            permission = aws.lambda_.Permission(
                f"{name}-{label}-invoke",
                action="lambda:InvokeFunction",
                function=function.function_name,
                qualifier=function.alias_name,
                principal="events.amazonaws.com",
                source_arn=rule.arn,
                opts=child,
            )
            send = aws.iam.RolePolicy(
                f"{name}-{label}-failures",
                role=function.role_name,
                policy=policy_document(
                    [{"Effect": "Allow", "Action": "sqs:SendMessage", "Resource": dlq.arn}]
                ),
                opts=child,
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
                opts=pulumi.ResourceOptions(parent=self, depends_on=[send]),
            )
            aws.cloudwatch.EventTarget(
                f"{name}-{label}",
                rule=rule.name,
                arn=function.alias_arn,
                retry_policy=retry,
                dead_letter_config=dead_letter,
                opts=pulumi.ResourceOptions(parent=self, depends_on=[permission, invoke_config]),
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
                                "ArnEquals": {"aws:SourceArn": [push_rule.arn, schedule_rule.arn]}
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
        self.rule_names = {"ecr-push": push_rule.name, "schedule": schedule_rule.name}
        self.push_rule_arn = push_rule.arn
        self.schedule_rule_arn = schedule_rule.arn
        self.register_outputs(
            {
                "dlq_arn": self.dlq_arn,
                "push_rule_arn": self.push_rule_arn,
                "schedule_rule_arn": self.schedule_rule_arn,
            }
        )
