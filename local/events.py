"""The events AWS delivers to a function, by the trigger its crate declares.

One module for everything that invokes a declared function without AWS: the runtime tests
(tests/runtime/test_declared.py) and the local stack. Shapes as AWS documents them:

- a schedule's event: "Scheduled Event" from ``aws.events`` with the rule's ARN in
  ``resources`` (https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-run-lambda-schedule.html);
- a TOKEN authorizer's input: ``type``, ``authorizationToken``, ``methodArn``
  (https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-lambda-authorizer-input.html);
- a REST API proxy integration's input: ``resource``, ``path``, ``httpMethod``, ``headers``,
  ``requestContext``, ``body``, ``isBase64Encoded``
  (https://docs.aws.amazon.com/apigateway/latest/developerguide/set-up-lambda-proxy-integrations.html#api-gateway-simple-proxy-for-lambda-input-format).

Whether an event pattern matches an event is EventBridge's rule
(https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-event-patterns.html), decided here by
moto's implementation of it: a second implementation, not ours.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

ACCOUNT = "123456789012"
"""moto's account, and the account of every event made here."""


def _event(
    source: str,
    detail_type: str,
    detail: dict[str, Any],
    *,
    region: str,
    account: str,
    resources: list[str],
    when: datetime | None,
) -> dict[str, Any]:
    """EventBridge's envelope around `detail` (the fields every event has:
    https://docs.aws.amazon.com/eventbridge/latest/ref/overiew-event-structure.html)."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": detail_type,
        "source": source,
        "account": account,
        "time": (when or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region,
        "resources": resources,
        "detail": detail,
    }


def scheduled_event(
    rule: str, *, region: str, account: str = ACCOUNT, when: datetime | None = None
) -> dict[str, Any]:
    """The event EventBridge sends a target when the schedule of rule `rule` fires."""
    rule_arn = f"arn:aws:events:{region}:{account}:rule/{rule}"
    return _event(
        "aws.events",
        "Scheduled Event",
        {},
        region=region,
        account=account,
        resources=[rule_arn],
        when=when,
    )


def ecr_push_event(
    repository: str,
    tag: str,
    digest: str,
    *,
    region: str,
    account: str = ACCOUNT,
    when: datetime | None = None,
) -> dict[str, Any]:
    """The event ECR sends EventBridge when an image push succeeds: "ECR Image Action" from
    ``aws.ecr`` with ``action-type`` PUSH
    (https://docs.aws.amazon.com/AmazonECR/latest/userguide/ecr-eventbridge.html)."""
    detail = {
        "result": "SUCCESS",
        "repository-name": repository,
        "image-digest": digest,
        "action-type": "PUSH",
        "image-tag": tag,
    }
    return _event(
        "aws.ecr",
        "ECR Image Action",
        detail,
        region=region,
        account=account,
        resources=[],
        when=when,
    )


def token_authorizer_event(token: str, method_arn: str) -> dict[str, Any]:
    """What API Gateway hands a TOKEN authorizer: the header's value as it came."""
    return {"type": "TOKEN", "authorizationToken": token, "methodArn": method_arn}


def proxy_event(
    method: str,
    path: str,
    *,
    resource: str | None = None,
    body: str | None = None,
    authorizer: Mapping[str, Any] | None = None,
    stage: str = "prod",
) -> dict[str, Any]:
    """A REST API proxy integration's event for `method path` (`resource`: the matched route)."""
    return {
        "resource": resource or path,
        "path": path,
        "httpMethod": method,
        "headers": {"content-type": "application/json"},
        "multiValueHeaders": {"content-type": ["application/json"]},
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "pathParameters": None,
        "stageVariables": None,
        "requestContext": {
            "resourcePath": resource or path,
            "httpMethod": method,
            "path": f"/{stage}{path}",
            "stage": stage,
            "requestId": str(uuid.uuid4()),
            "authorizer": dict(authorizer) if authorizer is not None else None,
        },
        "body": body,
        "isBase64Encoded": False,
    }


def pattern_matches(pattern: Mapping[str, Any], event: Mapping[str, Any]) -> bool:
    """Whether EventBridge would deliver `event` to a rule with `pattern` (moto's matcher)."""
    from moto.events.models import EventPattern  # noqa: PLC0415 - moto is heavy to import

    return bool(EventPattern.load(json.dumps(pattern)).matches_event(dict(event)))
