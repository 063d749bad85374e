"""Every function the workspace declares starts in the minimal Lambda root and answers the
event its trigger delivers, in the shape AWS requires of that trigger.

Nothing here names a function: the list is the workspace's declarations (tests/runtime/services.py
reads them with `python -m build`'s own discovery), so a crate added to app/ is run here with no
edit; tests/build/test_extra_function.py proves it with a fifth one. The behaviour of each of
ours is tested in depth in test_lambdas.py and test_migrate.py; this is the floor every
declared function must clear. What each trigger requires (local/events.py cites the inputs):

- `api-authorizer`: deny an unknown token with the error "Unauthorized" (API Gateway answers
  401) or a Deny policy
  (https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-lambda-authorizer-output.html);
- `api`: a proxy response, `statusCode` an integer, `body` a string, or API Gateway answers 502
  (https://docs.aws.amazon.com/apigateway/latest/developerguide/set-up-lambda-proxy-integrations.html#api-gateway-simple-proxy-for-lambda-output-format);
- `schedule`: succeed on the Scheduled Event (an error is retried, then dead-lettered);
- `event-pattern`: the sample events in app/events/<name>/ that the declared pattern matches
  (EventBridge's matching, by moto) reach it, and it answers each (an error is allowed: the
  asynchronous invoke retries it), and keeps serving;
- `migration`: run by test_migrate.py (the database fixture depends on it).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from declarations import resolve
from local.events import pattern_matches, proxy_event, scheduled_event, token_authorizer_event
from local.sandbox import Invocation, RieFunction
from tests.runtime.services import (
    DECLARED,
    EVENTS,
    FUNCTIONS,
    REFERENCES,
    REGION,
    Artifacts,
    Database,
    record_init,
    sample_events,
)

pytestmark = pytest.mark.rie
INVOKED = [name for name in FUNCTIONS if DECLARED[name].trigger.kind != "migration"]
METHOD_ARN = f"arn:aws:execute-api:{REGION}:123456789012:abcdef1234/prod/GET/declared-smoke"


@pytest.fixture(scope="module")
def started(
    start_function: Callable[..., RieFunction], artifacts: Artifacts, database: Database
) -> Iterator[Callable[[str], RieFunction]]:
    """function -> its emulator (after the migration: a function with a database finds its
    schema); the first invoke's init duration is recorded for the cold-start summary."""
    functions: dict[str, RieFunction] = {}

    def get(function: str) -> RieFunction:
        if function not in functions:
            functions[function] = start_function(function)
        return functions[function]

    yield get
    for name, fn in functions.items():
        record_init(name, fn, artifacts)


def _resolved_pattern(function: str) -> dict[str, Any]:
    pattern = DECLARED[function].trigger.pattern
    assert pattern is not None
    return dict(resolve(pattern, REFERENCES.__getitem__, "".join))


def _is_proxy_response(doc: Any) -> bool:
    return (
        isinstance(doc, dict)
        and isinstance(doc.get("statusCode"), int)
        and 100 <= doc["statusCode"] <= 599
        and (doc.get("body") is None or isinstance(doc["body"], str))
        and isinstance(doc.get("headers", {}), dict)
    )


def _is_denial(result: Invocation) -> bool:
    doc = result.json()
    if result.is_function_error:
        return bool(doc["errorMessage"] == "Unauthorized")
    statements = (doc.get("policyDocument") or {}).get("Statement") or []
    return bool(statements) and all(s.get("Effect") == "Deny" for s in statements)


@pytest.mark.parametrize("function", INVOKED)
def test_every_declared_function_answers_its_trigger(
    function: str, started: Callable[[str], RieFunction]
) -> None:
    declared = DECLARED[function]
    fn = started(function)
    kind = declared.trigger.kind
    if kind == "api-authorizer":
        for token in ("Bearer not-a-token-we-issued", ""):
            result = fn.invoke(token_authorizer_event(token, METHOD_ARN))
            assert result.status == 200
            assert _is_denial(result), result.body[:500]
    elif kind == "api":
        result = fn.invoke(
            proxy_event("GET", "/declared-smoke", authorizer={"principalId": "smoke", "scopes": ""})
        )
        assert result.status == 200
        assert not result.is_function_error, result.body[:500]
        assert _is_proxy_response(result.json()), result.body[:500]
    elif kind == "schedule":
        result = fn.invoke(scheduled_event(f"smoke-{function}", region=REGION))
        assert result.status == 200
        assert not result.is_function_error, result.body[:500]
    elif kind == "event-pattern":
        pattern = _resolved_pattern(function)
        samples = sample_events(function)
        matched = {n: e for n, e in samples.items() if pattern_matches(pattern, e)}
        assert matched, (
            f"no sample event in {EVENTS / function} matches the declared pattern {pattern}: "
            "add one EventBridge would deliver"
        )
        for name, event in matched.items():
            result = fn.invoke(event)
            assert result.status == 200, name
            result.json()  # a JSON answer or the runtime's error document
    else:  # no trigger: invoked directly
        result = fn.invoke({})
        assert result.status == 200
        result.json()
    # Still serving after the answer (a crash would end the process: RIE answers 502 or hangs).
    assert fn.invoke(scheduled_event("again", region=REGION)).status == 200
    assert fn.init_duration_ms() is not None, fn.log()[-2000:]


def test_an_event_pattern_is_matched_as_eventbridge_matches_it() -> None:
    """The matcher the test above relies on refuses what EventBridge refuses (AWS's page on
    event patterns: every field must match; a value in a list means any of them)."""
    pattern = {"source": ["aws.ecr"], "detail": {"action-type": ["PUSH"], "result": ["SUCCESS"]}}
    push = {"source": "aws.ecr", "detail": {"action-type": "PUSH", "result": "SUCCESS"}}
    assert pattern_matches(pattern, push)
    assert not pattern_matches(pattern, {**push, "source": "aws.s3"})
    assert not pattern_matches(pattern, {**push, "detail": {"action-type": "DELETE"}})
    assert not pattern_matches(pattern, {"source": "aws.ecr"})
    assert pattern_matches({"detail": {"result": [{"prefix": "SUCC"}]}}, push)
