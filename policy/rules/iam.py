"""Guardrails for IAM."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from policy.model import (
    Resource,
    Rule,
    StackRule,
    as_list,
    dig,
    json_input,
)
from policy.rules.common import (
    ADMIN_MANAGED_POLICIES,
    IAM_POLICY,
    IAM_ROLE,
    IAM_ROLE_POLICY,
    IAM_ROLE_POLICY_ATTACHMENT,
    IAM_USER_TYPES,
    rule,
    statements,
)


def _wildcard_actions(document: Any) -> Iterator[str]:
    for statement in statements(document):
        if statement.get("Effect", "Allow") != "Allow":
            continue
        if "NotAction" in statement:
            yield f"NotAction {statement['NotAction']!r} (allows everything else)"
        for action in as_list(statement.get("Action")):
            if isinstance(action, str) and (action == "*" or action.endswith(":*")):
                yield f"Action {action!r}"


def _iam_documents(r: Resource) -> Iterator[tuple[str, Any]]:
    if r.type in (IAM_POLICY, IAM_ROLE_POLICY):
        yield "policy", json_input(r.props, "policy")
    elif r.type == IAM_ROLE:
        for i, inline in enumerate(as_list(dig(r.props, "inlinePolicies"))):
            if isinstance(inline, Mapping):
                yield f"inlinePolicies[{i}]", json_input(inline, "policy")


def _iam_no_wildcard(r: Resource) -> Iterator[str]:
    for where, document in _iam_documents(r):
        for found in _wildcard_actions(document):
            yield (
                f"IAM policies must list exact actions; got {where} allowing {found}; list the "
                "actions the role needs (e.g. 'secretsmanager:GetSecretValue')"
            )


def _iam_no_admin_attachment(r: Resource) -> Iterator[str]:
    """An attachment's policyArn, or a role's managedPolicyArns, naming an admin policy."""
    arns = as_list(dig(r.props, "managedPolicyArns")) if r.type == IAM_ROLE else []
    arns += as_list(dig(r.props, "policyArn"))
    for arn in arns:
        if arn in ADMIN_MANAGED_POLICIES:
            yield (f"roles must not get admin policies; got {arn}; attach a least-privilege policy")


def _iam_no_users(resources: Sequence[Resource]) -> Iterator[tuple[Resource | None, str]]:
    """Looks at every resource of the plan: none may be an IAM user, its policy or its key."""
    for r in resources:
        if r.type in IAM_USER_TYPES:
            yield (
                r,
                f"IAM users and long-lived keys are not allowed; got {r.type}; use roles (OIDC "
                "for CI, task/execution roles for workloads)",
            )


RULES: tuple[Rule, ...] = (
    rule("iam-no-wildcard-action", "IAM.21", [IAM_POLICY, IAM_ROLE_POLICY, IAM_ROLE],
          _iam_no_wildcard, "No IAM policy allows a wildcard action ('*' or 'service:*')."),
    rule("iam-no-admin-policy", "IAM.1", [IAM_ROLE_POLICY_ATTACHMENT, IAM_ROLE],
          _iam_no_admin_attachment, "No role gets an administrative managed policy."),
    StackRule("iam-no-users", "IAM.2", "No IAM users, user policies or access keys.",
              _iam_no_users),
)  # fmt: skip
