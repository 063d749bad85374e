"""The data the guardrails work on: resources, rules, violations, and input helpers.

A rule sees a resource's *inputs* with camelCase keys, exactly the shape of the offline plan's
`inputs` (docs/contracts.md section 5) and of `args.props` in a pulumi-policy validation. Values
that are not known yet (offline: the string ``"<computed>"``; in a real preview: pulumi-policy's
unknown sentinels, normalised to the same string by `policy.pack`) make a rule raise `Unknown`,
which both runners report as "not checkable in this plan" rather than as a pass or a violation.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

COMPUTED = "<computed>"
"""How the offline plan writes a value that is only known after deployment."""

PRODUCTION_STACKS = frozenset({"prod"})
"""Stacks held to the production-only controls (multi-AZ, deletion protection, backups)."""

_URN_STACK = re.compile(r"^urn:pulumi:(?P<stack>[^:]+)::")


class Unknown(Exception):
    """A value a rule needs is computed: the rule cannot decide on this plan."""

    def __init__(self, path: str) -> None:
        super().__init__(f"{path} is not known until deployment")
        self.path = path


@dataclass(frozen=True)
class Resource:
    """One resource as a rule sees it: its Pulumi type token, name, URN and inputs."""

    type: str
    name: str
    props: Mapping[str, Any]
    urn: str = ""
    parent: str | None = None
    ignore_changes: tuple[str, ...] = ()
    """The `ignore_changes` resource option: inputs Pulumi leaves to someone else after
    creation (e.g. a Lambda alias's version, which CodeDeploy moves)."""

    @property
    def stack(self) -> str | None:
        """The stack name from the URN (``urn:pulumi:<stack>::<project>::...``), if there is one."""
        match = _URN_STACK.match(self.urn)
        return match.group("stack") if match else None

    @property
    def is_production(self) -> bool:
        """True for resources of a production stack (see `PRODUCTION_STACKS`)."""
        return self.stack in PRODUCTION_STACKS


@dataclass(frozen=True)
class Violation:
    """A rule broken by a resource (or by the stack when `resource` is None)."""

    rule: str
    control: str
    resource: str | None
    type: str | None
    message: str

    def line(self) -> str:
        """One line: rule, control, resource and what to do."""
        where = f"{self.resource} ({self.type})" if self.resource else "stack"
        return f"[{self.rule} / {self.control}] {where}: {self.message}"


ResourceCheck = Callable[[Resource], Iterable[str]]
StackCheck = Callable[[Sequence[Resource]], Iterable[tuple[Resource | None, str]]]


@dataclass(frozen=True)
class ResourceRule:
    """A rule on single resources of some types. `check` yields one message per problem."""

    name: str
    control: str
    """The AWS FSBP control id (e.g. ``"Lambda.2"``) or ``"custom"`` for our own."""
    description: str
    types: frozenset[str]
    check: ResourceCheck

    def applies_to(self, resource: Resource) -> bool:
        """Whether the rule looks at this resource at all."""
        return resource.type in self.types


@dataclass(frozen=True)
class StackRule:
    """A rule over the whole set of resources (relations such as "every X has a Y")."""

    name: str
    control: str
    description: str
    check: StackCheck
    types: frozenset[str] = field(default_factory=frozenset)
    """The types the rule is about (the check sees every resource; reports count these as
    inspected). Empty: the rule is about the whole plan (e.g. "no resource is an IAM user")."""


Rule = ResourceRule | StackRule


# ---- input helpers -------------------------------------------------------------------------


def dig(props: Mapping[str, Any], path: str, default: Any = None) -> Any:
    """`props` at a dotted path (``"vpcConfig.subnetIds"``); `default` when a key is absent.

    Raises `Unknown` when the value (or a container on the way) is computed.
    """
    current: Any = props
    walked: list[str] = []
    for key in path.split("."):
        walked.append(key)
        if current == COMPUTED:
            raise Unknown(".".join(walked[:-1]))
        if not isinstance(current, Mapping) or key not in current:
            return default
        current = current[key]
    if current == COMPUTED:
        raise Unknown(path)
    return current


def is_set(props: Mapping[str, Any], path: str) -> bool:
    """True when the input at `path` is present and non-empty; computed counts as set."""
    try:
        value = dig(props, path)
    except Unknown:
        return True
    return value not in (None, "", [], {})


def as_list(value: Any) -> list[Any]:
    """A list input that may be given as a single value or absent."""
    if value is None:
        return []
    if isinstance(value, list | tuple):
        return list(value)
    return [value]


def json_input(props: Mapping[str, Any], path: str) -> Any:
    """An input that holds a JSON document as a string (IAM policies, container definitions)."""
    value = dig(props, path)
    if value is None or not isinstance(value, str):
        return value
    if COMPUTED in value:
        raise Unknown(path)
    try:
        return json.loads(value)
    except json.JSONDecodeError as err:
        raise Unknown(f"{path} (not JSON: {err.msg})") from err


def by_type(resources: Sequence[Resource], *types: str) -> Iterator[Resource]:
    """The resources of the given types, in plan order."""
    return (r for r in resources if r.type in types)
