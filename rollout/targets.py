"""What to roll out: the stack's `rollout` output, read and checked (docs/contracts.md section 7).

The output comes from `pulumi stack output --json` (a file, or the CLI run here with `--stack`);
its `rollout` value may be the object itself or that object as a JSON string (as GitHub step
outputs carry it).
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

VERSION = re.compile(r"[1-9][0-9]*")
"""A published Lambda version (never `$LATEST`: an alias must point at an immutable version)."""


class RolloutError(Exception):
    """The rollout cannot start; one line: the thing, the rule, the value, the fix."""


@dataclass(frozen=True)
class Target:
    """One function to move: its alias to `version`, through its deployment group."""

    key: str
    function_name: str
    alias: str
    version: str
    deployment_group: str


@dataclass(frozen=True)
class RolloutPlan:
    application: str
    deployment_config: str
    strategy: str
    timeout_minutes: int
    targets: tuple[Target, ...]


def _field(entry: Mapping[str, Any], name: str, where: str) -> str:
    value = entry.get(name)
    if not isinstance(value, str) or not value:
        raise RolloutError(
            f"rollout output: {where}.{name} must be a non-empty string, got {value!r}; fix: "
            "`pulumi up` with this commit (the program exports it)"
        )
    return value


def read_plan(outputs: Mapping[str, Any]) -> RolloutPlan:
    """The plan from a stack's outputs (all of them, or just the `rollout` object)."""
    raw: Any = outputs.get("rollout", outputs if "functions" in outputs else None)
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except json.JSONDecodeError as err:
            raise RolloutError(
                "rollout output: must be a JSON object, got a string that is not JSON "
                f"({err.msg}); fix: pass `pulumi stack output --json` unchanged"
            ) from err
    if not isinstance(raw, Mapping):
        raise RolloutError(
            f"rollout output: the stack has no `rollout` object, got {type(raw).__name__}; fix: "
            "`pulumi up` with a commit that deploys through CodeDeploy (components/code_deploy.py)"
        )
    functions = raw.get("functions")
    if not isinstance(functions, Mapping) or not functions:
        raise RolloutError(
            f"rollout output: functions must map names to deployments, got {functions!r}; fix: "
            "`pulumi up` with this commit"
        )
    timeout = raw.get("timeout_minutes")
    if isinstance(timeout, bool) or not isinstance(timeout, int) or timeout < 1:
        raise RolloutError(
            f"rollout output: timeout_minutes must be a positive integer, got {timeout!r}; fix: "
            "`pulumi up` with this commit"
        )
    targets = []
    for key, entry in sorted(functions.items()):
        if not isinstance(entry, Mapping):
            raise RolloutError(
                f"rollout output: functions.{key} must be an object, got {entry!r}; fix: "
                "`pulumi up` with this commit"
            )
        version = _field(entry, "version", f"functions.{key}")
        if not VERSION.fullmatch(version):
            raise RolloutError(
                f"rollout output: functions.{key}.version must be a published version number, "
                f"got {version!r}; fix: publish versions (RustLambda sets publish=True)"
            )
        targets.append(
            Target(
                key=str(key),
                function_name=_field(entry, "function_name", f"functions.{key}"),
                alias=_field(entry, "alias", f"functions.{key}"),
                version=version,
                deployment_group=_field(entry, "deployment_group", f"functions.{key}"),
            )
        )
    return RolloutPlan(
        application=_field(raw, "application", "rollout"),
        deployment_config=_field(raw, "deployment_config", "rollout"),
        strategy=_field(raw, "strategy", "rollout"),
        timeout_minutes=timeout,
        targets=tuple(targets),
    )


def load_outputs(path: Path | None, stack: str | None) -> dict[str, Any]:
    """The stack's outputs: from `path`, else from `pulumi stack output --json --stack S`."""
    if path is not None:
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as err:
            raise RolloutError(
                f"outputs file {path}: cannot be read ({err.strerror}); fix: "
                f"pulumi stack output --json --stack <stack> > {path}"
            ) from err
        source = str(path)
    elif stack is not None:
        argv = ["pulumi", "stack", "output", "--json", "--stack", stack]
        try:
            done = subprocess.run(argv, capture_output=True, text=True, check=False)
        except FileNotFoundError as err:
            raise RolloutError(
                "pulumi: not found on PATH, got no outputs for stack "
                f"{stack!r}; fix: install the Pulumi CLI, or pass --outputs FILE"
            ) from err
        if done.returncode != 0:
            tail = (done.stderr.strip().splitlines() or ["(no output)"])[-1]
            raise RolloutError(
                f"{' '.join(argv)}: exit status {done.returncode}, got {tail!r}; fix: log in "
                "(pulumi login) and select an existing stack"
            )
        text, source = done.stdout, " ".join(argv)
    else:
        raise RolloutError(
            "rollout: needs the stack's outputs, got neither --outputs nor --stack; fix: "
            "python -m rollout --stack <stack>"
        )
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise RolloutError(
            f"{source}: must be the JSON of `pulumi stack output --json`, got invalid JSON "
            f"({err.msg}); fix: pulumi stack output --json --stack <stack> > outputs.json"
        ) from err
    if not isinstance(data, dict):
        raise RolloutError(
            f"{source}: must be a JSON object of outputs, got {type(data).__name__}; fix: "
            "pulumi stack output --json --stack <stack> > outputs.json"
        )
    return data
