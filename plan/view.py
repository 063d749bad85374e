"""Read helpers over plan entries, for tests and tools."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any


class Plan:
    """A plan (list of entries) with look-ups by type and name."""

    def __init__(self, entries: list[dict[str, Any]]) -> None:
        self.entries = entries
        self._by_urn = {e["urn"]: e for e in entries}

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(self.entries)

    def __len__(self) -> int:
        return len(self.entries)

    def of(self, type_: str) -> list[dict[str, Any]]:
        """Entries of one type token, in plan order."""
        return [e for e in self.entries if e["type"] == type_]

    def one(self, type_: str, name: str | None = None) -> dict[str, Any]:
        """The single entry of `type_` (named `name`, if given); fails if not exactly one."""
        found = [e for e in self.of(type_) if name is None or e["name"] == name]
        if len(found) != 1:
            names = [e["name"] for e in self.of(type_)]
            raise LookupError(f"expected one {type_} named {name!r}, found {names}")
        return found[0]

    def inputs(self, type_: str, name: str | None = None) -> dict[str, Any]:
        return dict(self.one(type_, name)["inputs"])

    def by_urn(self, urn: str) -> dict[str, Any]:
        return self._by_urn[urn]

    def depends_on(self, entry: dict[str, Any]) -> list[dict[str, Any]]:
        """Entries `entry` depends on (explicit depends_on and inputs' resources)."""
        return [self._by_urn[u] for u in entry["dependsOn"] if u in self._by_urn]

    def fed_by(self, entry: dict[str, Any], key: str) -> list[dict[str, Any]]:
        """The resources whose outputs input `key` of `entry` was made from (Pulumi's property
        dependencies: real wiring, whatever values the mocks return)."""
        urns = entry.get("inputDependencies", {}).get(key, [])
        return [self._by_urn[u] for u in urns if u in self._by_urn]

    def children(self, parent: str) -> list[dict[str, Any]]:
        return [e for e in self.entries if e["parent"] == parent]


def policy_json(value: Any) -> Any:
    """A policy input (JSON string, or already a dict) as data."""
    return json.loads(value) if isinstance(value, str) else value
