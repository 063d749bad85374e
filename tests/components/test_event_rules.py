"""components/event_rules.py under mocks."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from components.event_rules import EventRules, EventRulesArgs, EventTarget
from plan.view import policy_json
from tests.components.conftest import lambdas

RULE = "aws:cloudwatch/eventRule:EventRule"
TARGET = "aws:cloudwatch/eventTarget:EventTarget"
#: A Lambda alias ARN (https://docs.aws.amazon.com/lambda/latest/dg/configuration-aliases.html):
#: arn:aws:lambda:<region>:<account>:function:<name>:<alias>.
ALIAS_ARN = re.compile(
    r"arn:aws:lambda:eu-west-1:\d{12}:function:(?P<function>[A-Za-z0-9_-]+):live"
)
PATTERN = {
    "source": ["aws.ecr"],
    "detail-type": ["ECR Image Action"],
    "detail": {"action-type": ["PUSH"], "result": ["SUCCESS"], "repository-name": ["my-repo"]},
}


def targets_alias(plan, target_name: str, function: str) -> None:
    """The target invokes `function`'s `live` alias: made from it, in the alias ARN format."""
    target = plan.one(TARGET, target_name)
    alias = plan.one("aws:lambda/alias:Alias", f"{function}-live")
    assert {e["urn"] for e in plan.fed_by(target, "arn")} == {alias["urn"]}
    match = ALIAS_ARN.fullmatch(target["inputs"]["arn"])
    assert match and match["function"] == function, target["inputs"]["arn"]


def rules(manifest, *, schedule: Any = "rate(1 hour)", extra=(), **changes: Any):
    def program() -> None:
        functions = lambdas(manifest, *("event", "timer"))
        targets = [
            EventTarget(
                function=functions["event"], label="event", event_pattern=json.dumps(PATTERN)
            ),
            EventTarget(function=functions["timer"], label="timer", schedule_expression=schedule),
            *extra,
        ]
        EventRules("ev", EventRulesArgs(targets=targets, **changes))

    return program


def test_a_pattern_target(run, manifest) -> None:
    plan = run(rules(manifest))
    rule = plan.inputs(RULE, "ev-event")
    assert policy_json(rule["eventPattern"]) == PATTERN
    assert "scheduleExpression" not in rule
    targets_alias(plan, "ev-event", "event")


def test_a_schedule_target(run, manifest) -> None:
    plan = run(rules(manifest, schedule="cron(15 3 * * ? *)"))
    schedule = plan.inputs(RULE, "ev-timer")
    assert schedule["scheduleExpression"] == "cron(15 3 * * ? *)"
    assert "eventPattern" not in schedule
    targets_alias(plan, "ev-timer", "timer")


def test_targets_retry_then_dead_letter(run, manifest) -> None:
    plan = run(rules(manifest, retry_attempts=2, max_age_seconds=600))
    dlq = plan.inputs("aws:sqs/queue:Queue")
    assert dlq["sqsManagedSseEnabled"] is True
    for name in ("ev-event", "ev-timer"):
        target = plan.inputs(TARGET, name)
        assert target["retryPolicy"] == {
            "maximumEventAgeInSeconds": 600,
            "maximumRetryAttempts": 2,
        }
        entry = plan.one(TARGET, name)
        assert {e["name"] for e in plan.fed_by(entry, "deadLetterConfig")} == {"ev-dlq"}
        assert re.fullmatch(
            r"arn:aws:sqs:eu-west-1:\d{12}:[A-Za-z0-9_-]{1,80}", target["deadLetterConfig"]["arn"]
        )


def test_permissions_and_queue_policy_scoped_by_rule(run, manifest) -> None:
    plan = run(rules(manifest))
    rules_by_label = {}
    for label in ("event", "timer"):
        permission = plan.one("aws:lambda/permission:Permission", f"ev-{label}-invoke")
        inputs = permission["inputs"]
        assert inputs["principal"] == "events.amazonaws.com"
        assert inputs["qualifier"] == "live"
        rule = plan.one(RULE, f"ev-{label}")
        assert {e["urn"] for e in plan.fed_by(permission, "sourceArn")} == {rule["urn"]}
        rules_by_label[label] = rule["urn"]
        target = plan.one(TARGET, f"ev-{label}")
        assert permission["urn"] in target["dependsOn"]
    policy_entry = plan.one("aws:sqs/queuePolicy:QueuePolicy")
    # the queue admits EventBridge from exactly these rules
    assert {e["urn"] for e in plan.fed_by(policy_entry, "policy")} >= set(rules_by_label.values())
    [statement] = policy_json(policy_entry["inputs"]["policy"])["Statement"]
    assert statement["Principal"] == {"Service": "events.amazonaws.com"}
    assert statement["Action"] == "sqs:SendMessage"
    assert len(statement["Condition"]["ArnEquals"]["aws:SourceArn"]) == 2


def test_function_errors_reach_the_dead_letter_queue(run, manifest) -> None:
    """EventBridge invokes asynchronously: its DLQ sees only delivery failures. A function
    error is Lambda's to retry; without an on-failure destination Lambda drops the event after
    its retries (https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-retain-records.html).
    So each target's `live` alias has an async invoke config sending failures to the queue,
    and the function's role may send there."""
    plan = run(rules(manifest, function_retry_attempts=1, function_max_event_age_seconds=900))
    dlq = plan.one("aws:sqs/queue:Queue")
    for function in ("event", "timer"):
        config = plan.one(
            "aws:lambda/functionEventInvokeConfig:FunctionEventInvokeConfig", f"ev-{function}-async"
        )
        inputs = config["inputs"]
        assert (inputs["functionName"], inputs["qualifier"]) == (function, "live")
        assert (inputs["maximumRetryAttempts"], inputs["maximumEventAgeInSeconds"]) == (1, 900)
        assert {e["urn"] for e in plan.fed_by(config, "destinationConfig")} == {dlq["urn"]}
        assert re.fullmatch(
            r"arn:aws:sqs:eu-west-1:\d{12}:[A-Za-z0-9_-]{1,80}",
            inputs["destinationConfig"]["onFailure"]["destination"],
        )
        grant = plan.one("aws:iam/rolePolicy:RolePolicy", f"ev-{function}-failures")
        assert {e["name"] for e in plan.fed_by(grant, "role")} == {f"{function}-role"}
        [statement] = policy_json(grant["inputs"]["policy"])["Statement"]
        assert (statement["Effect"], statement["Action"]) == ("Allow", "sqs:SendMessage")
        assert {e["urn"] for e in plan.fed_by(grant, "policy")} == {dlq["urn"]}
        assert grant["urn"] in config["dependsOn"]  # Lambda checks the grant on create
        target = plan.one(TARGET, f"ev-{function}")
        assert config["urn"] in target["dependsOn"]


def test_every_target_shares_the_one_queue(run, manifest) -> None:
    def program() -> None:
        functions = lambdas(manifest, *("event", "timer", "handler"))
        EventRules(
            "ev",
            EventRulesArgs(
                targets=[
                    EventTarget(function=functions[n], label=n, schedule_expression="rate(1 day)")
                    for n in ("event", "timer", "handler")
                ]
            ),
        )

    plan = run(program)
    assert len(plan.of("aws:sqs/queue:Queue")) == 1
    assert {e["name"] for e in plan.of(RULE)} == {"ev-event", "ev-timer", "ev-handler"}


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            {"function_retry_attempts": 3},
            "EventRules ev: function_retry_attempts must be in 0..2 (Lambda's asynchronous "
            "retries), got 3",
        ),
        (
            {"function_max_event_age_seconds": 21601},
            "EventRules ev: function_max_event_age_seconds must be in 60..21600, got 21601",
        ),
        (
            {"schedule": "rate(1 hours)"},
            "EventRules ev: target timer schedule_expression 'rate(1 hours)': the rate unit must "
            "be singular for 1 and plural otherwise",
        ),
        ({"retry_attempts": 186}, "EventRules ev: retry_attempts must be in 0..185, got 186"),
        ({"max_age_seconds": 59}, "EventRules ev: max_age_seconds must be in 60..86400, got 59"),
    ],
)
def test_guards(run, manifest, changes: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError) as info:
        run(rules(manifest, **changes))
    assert str(info.value) == message


def test_target_guards(run, manifest) -> None:
    def program(targets) -> None:
        EventRules("ev", EventRulesArgs(targets=targets))

    with pytest.raises(ValueError, match="EventRules ev: targets must not be empty"):
        run(lambda: program([]))

    def both() -> None:
        fn = lambdas(manifest, "timer")["timer"]
        program([EventTarget(function=fn, label="t")])

    with pytest.raises(ValueError, match="needs exactly one of schedule_expression and event_"):
        run(both)

    def twice() -> None:
        fn = lambdas(manifest, "timer")["timer"]
        program([EventTarget(function=fn, label="t", schedule_expression="rate(1 day)")] * 2)

    with pytest.raises(ValueError, match=r"target labels must be unique, got \['t', 't'\]"):
        run(twice)
