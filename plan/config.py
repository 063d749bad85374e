"""Stack configuration as the Pulumi CLI would pass it: Pulumi.yaml defaults + stack values."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml


class StackError(Exception):
    """The stack or its file is unknown or malformed."""


def _as_config_string(value: Any) -> str:
    """The engine passes every value as a string; structured values as JSON."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, dict)):
        return json.dumps(value)
    return str(value)


def project_name(root: Path) -> str:
    return str(yaml.safe_load((root / "Pulumi.yaml").read_text())["name"])


def stacks(root: Path) -> list[str]:
    return sorted(p.name[len("Pulumi.") : -len(".yaml")] for p in root.glob("Pulumi.*.yaml"))


def stack_config(stack: str, root: Path, overrides: dict[str, Any] | None = None) -> dict[str, str]:
    """Full-key config map (`rust-on-aws:key`, `aws:region`) for `stack`.

    Defaults come from Pulumi.yaml's `config:` block, values from Pulumi.<stack>.yaml, then
    `overrides` (full keys; a value of None removes the key, as if never set).
    """
    project = yaml.safe_load((root / "Pulumi.yaml").read_text())
    name = project["name"]
    stack_file = root / f"Pulumi.{stack}.yaml"
    if not stack_file.is_file():
        raise StackError(
            f"stack {stack!r} has no {stack_file.name}; known stacks: {', '.join(stacks(root))}"
        )
    config: dict[str, str] = {}
    for key, decl in (project.get("config") or {}).items():
        full = key if ":" in key else f"{name}:{key}"
        if isinstance(decl, dict) and "default" in decl:
            config[full] = _as_config_string(decl["default"])
    values = (yaml.safe_load(stack_file.read_text()) or {}).get("config") or {}
    if not isinstance(values, dict):
        raise StackError(f"{stack_file.name}: config must be a mapping of keys to values")
    for key, value in values.items():
        full = key if ":" in key else f"{name}:{key}"
        config[full] = _as_config_string(value)
    for key, value in (overrides or {}).items():
        if value is None:
            config.pop(key, None)
        else:
            config[key] = _as_config_string(value)
    return config
