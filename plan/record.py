"""Run the program under recording mocks and turn the registrations into the plan.

`run_plan(stack, root=..., manifest=..., overrides=...)` returns the plan (docs/contracts.md
section 5) as a list of dicts; `write_plan` writes it atomically. Each run resets Pulumi's runtime
state (root stack resource, config, settings), so several stacks can be planned in one process.
"""

from __future__ import annotations

import hashlib
import json
import os
import runpy
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pulumi
from pulumi.output import Unknown
from pulumi.runtime import rpc, settings
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _sync_await

from plan.config import project_name, stack_config
from plan.mocks import RecordingMocks, RecordingMonitor, Registration

COMPUTED = "<computed>"
SECRET = "<secret>"  # noqa: S105 - the placeholder, not a secret


class PlanError(Exception):
    """The plan could not be produced (an invariant of the recorded program broke)."""


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _relative(path: str, root: Path) -> str:
    resolved = Path(path).resolve()
    return resolved.relative_to(root).as_posix() if resolved.is_relative_to(root) else path


def plain(value: Any, root: Path) -> Any:  # noqa: PLR0911 - a dispatch on the value's type
    """JSON-ready form of a deserialized input: unknowns, secrets and archives made explicit."""
    if isinstance(value, Unknown) or value == rpc.UNKNOWN:
        return COMPUTED
    if rpc.is_rpc_secret(value):
        return SECRET
    if isinstance(value, pulumi.FileArchive | pulumi.FileAsset):
        path = Path(value.path)
        if not path.is_file():
            raise PlanError(f"archive {path} is not a file; hand FileArchive the zip file")
        return {"path": _relative(str(path), root), "sha256": _sha256(path)}
    if isinstance(value, pulumi.Resource):
        return COMPUTED
    if isinstance(value, dict):
        return {str(k): plain(v, root) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v, root) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _entries(registrations: list[Registration], root: Path) -> list[dict[str, Any]]:
    names = {r.urn: r.name for r in registrations}
    entries = [
        {
            "type": r.type,
            "name": r.name,
            "parent": names.get(r.parent_urn),
            "urn": r.urn,
            "custom": r.custom,
            "protect": r.protect,
            "dependsOn": sorted(set(r.dependencies)),
            "ignoreChanges": sorted(r.ignore_changes),
            "inputs": plain(r.inputs, root),
            "inputDependencies": dict(sorted(r.input_dependencies.items())),
            **({"aliases": sorted(r.aliases)} if r.aliases else {}),
        }
        for r in registrations
    ]
    # RegisterResource runs on a thread pool, so arrival order varies between runs; sorting by
    # name (then type) keeps plans byte-stable and groups each component's children together.
    entries.sort(key=lambda e: (e["name"], e["type"]))
    return entries


def _reset_runtime() -> None:
    """Forget the previous run's root stack and pending work (Pulumi keeps them in globals)."""
    settings.ROOT.set(None)
    settings.SETTINGS.rpc_manager.clear()
    settings.SETTINGS.outputs.clear()


def record(
    program: Callable[[], object],
    *,
    root: Path,
    stack: str = "test",
    project: str = "rust-on-aws",
    config: dict[str, str] | None = None,
    monitor: RecordingMonitor | None = None,
) -> list[dict[str, Any]]:
    """Run `program` (which creates resources) under recording mocks; return the plan entries.

    Resets Pulumi's runtime state before and after, so calls can follow each other in one
    process. Exceptions of `program` propagate unchanged; pass `monitor` to inspect what was
    registered before one was raised.
    """
    config = dict(config or {})
    mocks = RecordingMocks(region=config.get("aws:region", "us-east-1"))
    monitor = monitor if monitor is not None else RecordingMonitor(mocks)
    monitor.mocks = mocks
    _reset_runtime()
    pulumi.runtime.set_all_config(config)
    pulumi.runtime.set_mocks(mocks, project=project, stack=stack, preview=False, monitor=monitor)

    async def main() -> None:
        program()
        # set_mocks registered the root stack's (empty) outputs up front; resolve the exports
        # here so tests can read them.
        root_resource = settings.get_root_resource()
        exports = dict(getattr(root_resource, "outputs", {}))
        monitor.exports = await pulumi.Output.from_input(exports).future() or {}

    try:
        _sync_await(run_pulumi_func(main))
    finally:
        _reset_runtime()
    return _entries(monitor.registrations, root.resolve())


def run_plan(
    stack: str,
    *,
    root: Path,
    manifest: Path | None = None,
    overrides: dict[str, Any] | None = None,
    monitor: RecordingMonitor | None = None,
) -> list[dict[str, Any]]:
    """Plan `stack` of the project at `root` (its __main__.py) and return the entries.

    Entries are sorted by (name, type). `manifest` replaces the configured artifact manifest
    (tests use tests/fixtures/manifest.json; ROA_MANIFEST is then ignored); `overrides` sets or
    (with None) unsets full config keys, e.g. {"rust-on-aws:function.handler.memory": 256}.
    Errors of the program (ConfigError, ManifestError, RouteError, ...) propagate unchanged.
    """
    root = root.resolve()
    project = project_name(root)
    changes = dict(overrides or {})
    if manifest is not None:
        changes[f"{project}:manifestPath"] = str(manifest.resolve())
    config = stack_config(stack, root, changes)
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    program = str(root / "__main__.py")
    saved = os.environ.pop("ROA_MANIFEST", None) if manifest is not None else None
    try:
        return record(
            lambda: runpy.run_path(program, run_name="__main__"),
            root=root,
            stack=stack,
            project=project,
            config=config,
            monitor=monitor,
        )
    finally:
        if saved is not None:
            os.environ["ROA_MANIFEST"] = saved


def dumps(entries: list[dict[str, Any]]) -> str:
    return json.dumps(entries, indent=2, sort_keys=True) + "\n"


def write_plan(entries: list[dict[str, Any]], path: Path) -> None:
    """Write atomically: a temporary file in the same folder, then rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(
        "w", dir=path.parent, prefix=f".{path.name}.", delete=False
    ) as handle:
        handle.write(dumps(entries))
    umask = os.umask(0)
    os.umask(umask)
    Path(handle.name).chmod(0o666 & ~umask)  # NamedTemporaryFile creates 0600
    Path(handle.name).replace(path)
