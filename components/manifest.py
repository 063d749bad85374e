"""The artifact manifest (docs/contracts.md section 2): what `make build` produced.

`read_manifest` refuses, in one line naming `make build`, a missing or unreadable manifest, an
unknown version, a runtime or architecture other than the stack's, a missing function and a zip
that is missing or whose sha256 differs from the manifest's (a stale build).
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from declarations import (
    DeclarationError,
    FunctionDeclaration,
    ServiceDeclaration,
    function_from_json,
    validate_set,
)

MANIFEST_ENV = "ROA_MANIFEST"
FIX = "run `make build`"


class ManifestError(Exception):
    """The manifest is missing, malformed or stale."""


@dataclass(frozen=True, kw_only=True)
class FunctionArtifact:
    """One Lambda's zip."""

    name: str
    zip_path: Path
    """Absolute path of the zip."""
    sha256: str
    """Hex digest of the zip's bytes (as the manifest states and as verified)."""
    size: int
    """Bytes of the zip."""
    unzipped_size: int
    """Bytes of the zip's contents (Lambda's 250 MB limit applies to this)."""
    architecture: str
    declaration: FunctionDeclaration
    """What the crate declares (declarations/): trigger, memory, timeout, database, ..."""


@dataclass(frozen=True, kw_only=True)
class ServerArtifact:
    """The server's folder (`dist/server`), the Docker build context."""

    dir: Path
    sha256: str
    """Hex digest over the folder's files; its prefix tags the image."""
    port: int = 8080
    """The port the server listens on (its declaration)."""


def artifact_digest(function_sha256: dict[str, str], server_sha256: str | None) -> str:
    """One sha256 naming every deployed byte: each function zip's and the server folder's.

    A stack exports it (`artifact_digest`), so a drift check can prove that the artifacts it
    previews with are the ones the stack runs (scripts/verify_manifest.py --digest).
    """
    canonical = json.dumps(
        {"functions": dict(sorted(function_sha256.items())), "server": server_sha256},
        sort_keys=True,
        separators=(",", ":"),
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass(frozen=True, kw_only=True)
class Manifest:
    path: Path
    runtime: str
    architecture: str
    functions: dict[str, FunctionArtifact]
    """Every declared function, by name."""
    server: ServerArtifact | None
    """The declared service's folder (None when no crate declares one)."""
    ca_bundle_path: str
    """Where every artifact holds the Amazon RDS CA certificates (relative to its root:
    /var/task/<path> on Lambda, /app/<path> in the image)."""

    @property
    def digest(self) -> str:
        """`artifact_digest` of these artifacts."""
        return artifact_digest(
            {name: f.sha256 for name, f in self.functions.items()},
            self.server.sha256 if self.server else None,
        )

    def triggered(self, kind: str) -> list[FunctionArtifact]:
        """The functions whose declared trigger is `kind`, by name."""
        return [f for _, f in sorted(self.functions.items()) if f.declaration.trigger.kind == kind]


def manifest_path(configured: Path, root: Path) -> Path:
    """`ROA_MANIFEST` if set, else the configured path; relative paths are relative to `root`."""
    chosen = Path(os.environ.get(MANIFEST_ENV) or configured)
    return chosen if chosen.is_absolute() else root / chosen


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _field(entry: dict[str, Any], key: str, kind: type, where: str, path: Path) -> Any:
    value = entry.get(key)
    if not isinstance(value, kind) or isinstance(value, bool):
        raise ManifestError(
            f"{path}: {where}.{key} must be a {kind.__name__}, got {value!r}; {FIX} to rewrite it"
        )
    return value


def _function(name: str, entry: object, path: Path, architecture: str) -> FunctionArtifact:
    """One functions.<name> entry, its zip present and matching its sha256."""
    if not isinstance(entry, dict):
        raise ManifestError(f"artifact manifest {path}: function {name!r} missing; {FIX}")
    where = f"functions.{name}"
    zip_path = path.parent / _field(entry, "zip", str, where, path)
    expected = _field(entry, "sha256", str, where, path)
    arch = entry.get("architecture", architecture)
    if arch != architecture:
        raise ManifestError(
            f"artifact manifest {path}: {where}.architecture {arch!r} differs from the "
            f"stack's {architecture!r}; {FIX}"
        )
    if not zip_path.is_file():
        raise ManifestError(f"{name} zip {zip_path} not found; {FIX}")
    actual = sha256_file(zip_path)
    if actual != expected:
        raise ManifestError(
            f"{name} zip {zip_path} is stale: sha256 {actual[:12]}... but the manifest says "
            f"{expected[:12]}...; {FIX}"
        )
    try:
        declaration = function_from_json(
            name, entry.get("declaration"), f"{path} {where}.declaration"
        )
    except DeclarationError as exc:
        raise ManifestError(f"{exc}; {FIX} to record the crates' declarations") from exc
    return FunctionArtifact(
        name=name,
        zip_path=zip_path,
        sha256=expected,
        size=_field(entry, "size", int, where, path),
        unzipped_size=_field(entry, "unzipped_size", int, where, path),
        architecture=arch,
        declaration=declaration,
    )


def read_manifest(path: Path, *, runtime: str, architecture: str) -> Manifest:
    """Read and verify the manifest against the stack's runtime and architecture."""
    if not path.is_file():
        raise ManifestError(f"artifact manifest {path} not found; {FIX} to compile the Lambdas")
    try:
        doc = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ManifestError(f"artifact manifest {path} is not JSON ({exc}); {FIX}") from exc
    if not isinstance(doc, dict) or doc.get("version") != 1:
        version = doc.get("version") if isinstance(doc, dict) else doc
        raise ManifestError(f"artifact manifest {path}: version must be 1, got {version!r}; {FIX}")
    if doc.get("runtime") != runtime:
        raise ManifestError(
            f"artifact manifest {path}: runtime {doc.get('runtime')!r} differs from the stack's "
            f"lambdaRuntime {runtime!r}; {FIX} for {runtime} or set lambdaRuntime"
        )
    if doc.get("architecture") != architecture:
        raise ManifestError(
            f"artifact manifest {path}: architecture {doc.get('architecture')!r} differs from the "
            f"stack's architecture {architecture!r}; {FIX} for {architecture} or set architecture"
        )
    entries = doc.get("functions")
    if not isinstance(entries, dict):
        raise ManifestError(f"artifact manifest {path}: no functions object; {FIX}")
    functions = {
        name: _function(name, entry, path, architecture) for name, entry in entries.items()
    }
    server_doc = doc.get("server")
    server = None
    if server_doc is not None:
        if not isinstance(server_doc, dict):
            raise ManifestError(f"artifact manifest {path}: server must be an object; {FIX}")
        server_dir = path.parent / _field(server_doc, "dir", str, "server", path)
        if not server_dir.is_dir():
            raise ManifestError(f"server folder {server_dir} not found; {FIX}")
        declared = server_doc.get("declaration") or {}
        server = ServerArtifact(
            dir=server_dir,
            sha256=_field(server_doc, "sha256", str, "server", path),
            port=declared.get("port", 8080) if isinstance(declared, dict) else 8080,
        )
    try:
        validate_set(
            {name: f.declaration for name, f in functions.items()},
            ServiceDeclaration(name=str(server_doc.get("declaration", {}).get("bin", "server")))
            if server is not None and isinstance(server_doc, dict)
            else None,
            f"artifact manifest {path}",
        )
    except DeclarationError as exc:
        raise ManifestError(f"{exc}; fix the crates' declarations, then {FIX}") from exc
    bundle = doc.get("ca_bundle")
    if not isinstance(bundle, dict):
        raise ManifestError(
            f"artifact manifest {path}: no ca_bundle (the database CA certificates every "
            f"artifact ships); {FIX}"
        )
    ca_path = _field(bundle, "path", str, "ca_bundle", path)
    if ca_path.startswith("/") or ".." in Path(ca_path).parts:
        raise ManifestError(
            f"artifact manifest {path}: ca_bundle.path must be relative to the artifact, got "
            f"{ca_path!r}; {FIX}"
        )
    return Manifest(
        path=path,
        runtime=doc["runtime"],
        architecture=doc["architecture"],
        functions=functions,
        server=server,
        ca_bundle_path=ca_path,
    )
