"""What `make build` leaves in dist/, checked before anything runs: one reader for the runtime
tests, `make local` and the load tool.

The functions that run are the ones the workspace declares (`python -m build`'s own discovery,
`build.cargo.discover`); dist/manifest.json must record exactly those, each zip with the digest
the manifest gives, and the server folder. Every way dist/ can be unusable is one line ending in
the command that fixes it (`make build`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from build.cargo import discover
from build.errors import BuildError
from declarations import DeclarationError, FunctionDeclaration, function_from_json, resolve
from local.sandbox import SandboxError


def declared(app: Path) -> dict[str, FunctionDeclaration]:
    """The functions `app`'s crates declare, read as `python -m build` reads them."""
    try:
        return dict(discover(app).functions)
    except BuildError as exc:
        raise SandboxError(f"the functions that run are what {app} declares, and: {exc}") from None


def references(*, stack: str, region: str, account: str, ecr_repository: str) -> dict[str, str]:
    """What `${reference}` in a declaration stands for (declarations.REFERENCES) off AWS."""
    return {
        "stack": stack,
        "region": region,
        "account": account,
        "ecr-repository.name": ecr_repository,
        "ecr-repository.arn": f"arn:aws:ecr:{region}:{account}:repository/{ecr_repository}",
    }


def declared_env(declaration: FunctionDeclaration, refs: Mapping[str, str]) -> dict[str, str]:
    """The function's declared environment, references resolved as the program resolves them."""
    lookup: Callable[[str], str] = refs.__getitem__
    return {name: resolve(value, lookup, "".join) for name, value in declaration.env}


@dataclass(frozen=True)
class Artifacts:
    """dist/: the manifest and where each artifact lives."""

    dist: Path
    manifest: dict[str, Any]

    def zip(self, function: str) -> Path:
        return self.dist / self.manifest["functions"][function]["zip"]

    @property
    def server_dir(self) -> Path:
        return self.dist / self.manifest["server"]["dir"]

    @property
    def server_binary(self) -> str:
        """The binary's path relative to the server folder."""
        server = self.manifest["server"]
        return str(Path(server["binary"]).relative_to(server["dir"]))

    @property
    def architecture(self) -> str:
        return str(self.manifest.get("architecture", "x86_64"))

    @property
    def runtime(self) -> str:
        return str(self.manifest.get("runtime", "provided.al2023"))


def check_dist(dist: Path, functions: Mapping[str, FunctionDeclaration], app: Path) -> Artifacts:
    """Read dist/manifest.json and check it records exactly `functions` (what `app` declares),
    each zip present with the manifest's digest, and the server; `SandboxError` otherwise."""
    path = dist / "manifest.json"
    try:
        manifest = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise SandboxError(f"{path} is missing or unreadable ({exc}): run `make build`") from None
    recorded = manifest.get("functions") or {}
    for name, declaration in sorted(functions.items()):
        entry = recorded.get(name)
        if not isinstance(entry, dict) or "zip" not in entry:
            raise SandboxError(f"{path} has no function {name!r}: run `make build`")
        archive = dist / entry["zip"]
        if not archive.is_file():
            raise SandboxError(f"{archive} listed in {path} does not exist: run `make build`")
        digest = hashlib.sha256(archive.read_bytes()).hexdigest()
        if digest != entry.get("sha256"):
            raise SandboxError(
                f"{archive.name} has sha256 {digest[:12]}..., the manifest says "
                f"{str(entry.get('sha256'))[:12]}...: the build is stale, run `make build`"
            )
        try:
            built = function_from_json(name, entry.get("declaration"), f"{path} {name}")
        except DeclarationError as exc:
            raise SandboxError(f"{exc} (an older build?): run `make build`") from None
        if built.to_json() != declaration.to_json():
            raise SandboxError(
                f"{path} records function {name} as {built.to_json()}, {app} declares "
                f"{declaration.to_json()}: the build is stale, run `make build`"
            )
    extra = sorted(set(recorded) - set(functions))
    if extra:
        raise SandboxError(
            f"{path} has functions {app} does not declare ({', '.join(extra)}): the build is "
            "stale, run `make build`"
        )
    server = manifest.get("server") or {}
    if not (dist / str(server.get("binary", "-"))).is_file():
        raise SandboxError(f"{path} names no server binary that exists: run `make build`")
    if not isinstance(manifest.get("ca_bundle"), dict):
        raise SandboxError(f"{path} records no ca_bundle (an older build): run `make build`")
    return Artifacts(dist, dict(manifest))
