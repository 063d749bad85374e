"""The rules as pulumi-policy policies, importable without starting the analyzer server.

`policy/__main__.py` hands `policies()` to `PolicyPack` (which serves and blocks); tests build
the same list and call `validate` directly. Inputs reach our rule functions in the offline
plan's shape: pulumi-policy's unknown-value proxies are unwrapped and its unknown sentinels
become ``"<computed>"``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    Policy,
    PolicyResource,
    PolicyResourceOptions,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy import proxy as _proxy

from policy.model import COMPUTED, Resource, ResourceRule, Rule, StackRule, Unknown, Violation
from policy.rules import RULES
from policy.waivers import waiver_for

_UNKNOWN_SENTINELS = frozenset(
    {
        _proxy.UNKNOWN_BOOLEAN_VALUE,
        _proxy.UNKNOWN_NUMBER_VALUE,
        _proxy.UNKNOWN_STRING_VALUE,
        _proxy.UNKNOWN_ARRAY_VALUE,
        _proxy.UNKNOWN_ASSET_VALUE,
        _proxy.UNKNOWN_ARCHIVE_VALUE,
        _proxy.UNKNOWN_OBJECT_VALUE,
    }
)


def plain(value: Any) -> Any:
    """Props as plain dicts/lists, with unknowns as ``"<computed>"`` (the offline plan's shape).

    pulumi-policy wraps props in proxies that raise on unknown values; their raw contents are
    reachable under the key ``"__target"`` (pulumi_policy/proxy.py).
    """
    if isinstance(value, (_proxy._DictProxy, _proxy._ListProxy)):
        value = value["__target"]
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, str) and value in _UNKNOWN_SENTINELS:
        return COMPUTED
    return value


def _resource(
    type_: str,
    name: str,
    urn: str,
    props: Any,
    parent: str | None,
    *,
    opts: PolicyResourceOptions | None = None,
) -> Resource:
    ignored = tuple(opts.ignore_changes or ()) if opts is not None else ()
    return Resource(
        type=type_, name=name, props=plain(props), urn=urn, parent=parent, ignore_changes=ignored
    )


def _resource_policy(rule: ResourceRule) -> ResourceValidationPolicy:
    def validate(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
        if args.resource_type not in rule.types:
            return
        resource = _resource(
            args.resource_type, args.name, args.urn, args.props, None, opts=args.opts
        )
        try:
            messages = list(rule.check(resource))
        except Unknown:
            return  # decided at `pulumi up`, when the value is known
        for message in messages:
            found = Violation(rule.name, rule.control, args.name, args.resource_type, message)
            if waiver_for(found) is None:
                report_violation(f"{args.name}: {message}", None)

    return ResourceValidationPolicy(
        name=rule.name,
        description=f"[{rule.control}] {rule.description}",
        validate=validate,
        enforcement_level=EnforcementLevel.MANDATORY,
    )


def _policy_resources(resources: Sequence[PolicyResource]) -> list[Resource]:
    return [
        _resource(
            r.resource_type,
            r.name,
            r.urn,
            r.props,
            r.parent.name if r.parent else None,
            opts=r.opts,
        )
        for r in resources
    ]


def _stack_policy(rule: StackRule) -> StackValidationPolicy:
    def validate(args: StackValidationArgs, report_violation: ReportViolation) -> None:
        try:
            found = list(rule.check(_policy_resources(args.resources)))
        except Unknown:
            return
        urns = {r.name: r.urn for r in args.resources}
        for resource, message in found:
            violation = Violation(
                rule.name,
                rule.control,
                resource.name if resource else None,
                resource.type if resource else None,
                message,
            )
            if waiver_for(violation) is None:
                report_violation(message, urns.get(resource.name) if resource else None)

    return StackValidationPolicy(
        name=rule.name,
        description=f"[{rule.control}] {rule.description}",
        validate=validate,
        enforcement_level=EnforcementLevel.MANDATORY,
    )


def policies(rules: Iterable[Rule] = RULES) -> list[Policy]:
    """One mandatory pulumi-policy policy per rule."""
    return [
        _resource_policy(rule) if isinstance(rule, ResourceRule) else _stack_policy(rule)
        for rule in rules
    ]
