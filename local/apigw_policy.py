"""API Gateway's evaluation of a Lambda authorizer's policy, as AWS documents it.

A TOKEN authorizer returns ``{"principalId", "policyDocument", "context"}``
(https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-lambda-authorizer-output.html).
API Gateway caches that output per token for the authorizer's TTL and evaluates the cached
policy against the ARN of *every* later request made with the same token, so a policy must be
right for every route, not only for the one that was being called when it was issued.

The rules implemented here, each from AWS's documentation:

- The resource of a request is its execute-api ARN,
  ``arn:{partition}:execute-api:{region}:{account}:{api_id}/{stage}/{METHOD}/{path}``
  (https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-control-access-using-iam-policies-to-invoke-api.html),
  the path without its leading ``/``, path parameters as the request gave them.
- In a statement's ``Resource``, ``*`` matches any run of characters, ``/`` and ``:`` included,
  and ``?`` matches exactly one character; the rest matches literally and case-sensitively
  (IAM's ARN matching, https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_resource.html).
- A statement applies when its ``Action`` covers ``execute-api:Invoke`` (the action itself,
  ``execute-api:*`` or ``*``, wildcards matched the same way, case-insensitively as IAM matches
  actions) and one of its resources matches.
- An explicit ``Deny`` that applies wins over any ``Allow``; with no ``Allow`` that applies the
  request is denied implicitly
  (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html).

API Gateway answers 403 to a denied request; it calls nothing behind it.

Anything this module does not implement (``NotAction``, ``NotResource``, ``Condition``, a
``Principal``) makes it raise `PolicyError` rather than guess.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal

INVOKE = "execute-api:Invoke"
VERSIONS = ("2012-10-17", "2008-10-17")
_SUPPORTED_KEYS = frozenset({"Sid", "Effect", "Action", "Resource"})

Decision = Literal["Allow", "Deny"]


class PolicyError(ValueError):
    """The document is not a policy API Gateway would accept, or uses what we do not model."""


@dataclass(frozen=True)
class Statement:
    effect: Literal["Allow", "Deny"]
    actions: tuple[str, ...]
    resources: tuple[str, ...]


@lru_cache(maxsize=4096)
def _glob(pattern: str, *, ignore_case: bool = False) -> re.Pattern[str]:
    """IAM's wildcard matching as a regular expression: `*` any run, `?` one character."""
    parts = []
    for char in pattern:
        if char == "*":
            parts.append(".*")
        elif char == "?":
            parts.append(".")
        else:
            parts.append(re.escape(char))
    return re.compile("".join(parts), re.DOTALL | (re.IGNORECASE if ignore_case else 0))


def wildcard_match(pattern: str, value: str, *, ignore_case: bool = False) -> bool:
    """True when `pattern` (with IAM's `*` and `?`) matches the whole of `value`."""
    return _glob(pattern, ignore_case=ignore_case).fullmatch(value) is not None


def _strings(value: Any, where: str) -> tuple[str, ...]:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not items or not all(isinstance(i, str) for i in items):
        raise PolicyError(f"{where} must be a string or a non-empty list of strings, got {value!r}")
    return tuple(items)


def parse_policy(document: Mapping[str, Any]) -> tuple[Statement, ...]:
    """The statements of an authorizer's ``policyDocument``; `PolicyError` if malformed."""
    if not isinstance(document, Mapping):
        raise PolicyError(f"policyDocument must be an object, got {document!r}")
    version = document.get("Version")
    if version not in VERSIONS:
        raise PolicyError(f"policyDocument.Version must be one of {VERSIONS}, got {version!r}")
    raw = document.get("Statement")
    items = [raw] if isinstance(raw, Mapping) else raw
    if not isinstance(items, list) or not items:
        raise PolicyError(f"policyDocument.Statement must be a non-empty list, got {raw!r}")
    statements = []
    for i, item in enumerate(items):
        where = f"policyDocument.Statement[{i}]"
        if not isinstance(item, Mapping):
            raise PolicyError(f"{where} must be an object, got {item!r}")
        unknown = sorted(set(item) - _SUPPORTED_KEYS)
        if unknown:
            raise PolicyError(f"{where} uses {unknown}, which this evaluator does not model")
        effect = item.get("Effect")
        if effect not in ("Allow", "Deny"):
            raise PolicyError(f"{where}.Effect must be Allow or Deny, got {effect!r}")
        statements.append(
            Statement(
                effect=effect,
                actions=_strings(item.get("Action"), f"{where}.Action"),
                resources=_strings(item.get("Resource"), f"{where}.Resource"),
            )
        )
    return tuple(statements)


def _applies(statement: Statement, resource_arn: str) -> bool:
    acts = any(wildcard_match(a, INVOKE, ignore_case=True) for a in statement.actions)
    return acts and any(wildcard_match(r, resource_arn) for r in statement.resources)


Outcome = Literal["Allow", "ExplicitDeny", "ImplicitDeny"]


@dataclass(frozen=True)
class Explanation:
    """Why a policy decided a request: the outcome and the statement that decided it (its index
    in ``Statement``), None for an implicit deny, which no statement decides."""

    outcome: Outcome
    index: int | None = None
    statement: Statement | None = None


def explain(document: Mapping[str, Any], resource_arn: str) -> Explanation:
    """`evaluate` with its reason: the first applying Deny, else the first applying Allow, else
    an implicit deny. API Gateway answers the two denies with different messages."""
    statements = parse_policy(document)
    applying = [(i, s) for i, s in enumerate(statements) if _applies(s, resource_arn)]
    deny = next(((i, s) for i, s in applying if s.effect == "Deny"), None)
    if deny is not None:
        return Explanation("ExplicitDeny", *deny)
    allow = next(((i, s) for i, s in applying if s.effect == "Allow"), None)
    if allow is not None:
        return Explanation("Allow", *allow)
    return Explanation("ImplicitDeny")


def evaluate(document: Mapping[str, Any], resource_arn: str) -> Decision:
    """API Gateway's decision for one request: explicit Deny wins, else Allow if one applies."""
    return "Allow" if explain(document, resource_arn).outcome == "Allow" else "Deny"


@dataclass(frozen=True)
class Stage:
    """Where requests go: the parts of an execute-api ARN before the method."""

    region: str = "eu-west-1"
    account: str = "123456789012"
    api_id: str = "abcdef1234"
    stage: str = "v1"
    partition: str = "aws"

    @property
    def prefix(self) -> str:
        return (
            f"arn:{self.partition}:execute-api:{self.region}:{self.account}:"
            f"{self.api_id}/{self.stage}"
        )

    def method_arn(self, method: str, path: str) -> str:
        """The ARN API Gateway evaluates for `method` on the request path `path` (``/a/b``)."""
        if not path.startswith("/"):
            raise ValueError(f"a request path starts with /, got {path!r}")
        return f"{self.prefix}/{method}/{path[1:]}"


def allowed(
    document: Mapping[str, Any], stage: Stage, requests: Iterable[tuple[str, str]]
) -> set[tuple[str, str]]:
    """The (method, path) requests of `requests` that the policy lets through."""
    return {(m, p) for m, p in requests if evaluate(document, stage.method_arn(m, p)) == "Allow"}


def concrete_paths(template: str, samples: Sequence[str]) -> list[str]:
    """Request paths of a route template (``/devices/{device_id}``), one per sample value, each
    `{param}` replaced by the sample (so ``/devices/sensor-1``)."""
    return [re.sub(r"\{[a-z_][a-z0-9_]*\}", sample, template) for sample in samples]
