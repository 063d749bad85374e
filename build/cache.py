"""Reuse the previous build's artifacts when nothing that made them has changed.

An artifact (a function's zip, the server's folder) is a function of: the compiled binary, the
runtime policy, the architecture, the build code and tools (``builder``: build/*.py,
build/policies/*.json, patchelf, Python's zlib), the zip timestamp, the host's LD_LIBRARY_PATH
(where libraries are looked up), the RDS CA bundle it ships (build/certs.py) and the bundled
libraries' original files. The manifest records
the first ones per artifact in ``source`` and the libraries in ``bundled`` (``original`` +
``sha256``). When all of them match, the previous artifact is verified against the manifest's
sha256 and hard-linked (or copied) into the staging folder instead of audited and bundled again.

Not detected: a *new* library appearing earlier on the search path, shadowing one whose file is
unchanged (resolution is what the cache skips); ``--no-cache`` rebuilds everything.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
import platform
import shutil
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from build.elf import sha256_file
from build.errors import BuildError
from build.graft import file_digests, patchelf_path
from build.manifest import MANIFEST_NAME, MANIFEST_VERSION
from build.policy import ArchPolicy, Policy

log = logging.getLogger(__name__)

BUILD_DIR = Path(__file__).resolve().parent


def fingerprint_of(build_dir: Path) -> str:
    """sha256 over the names and bytes of ``build_dir/*.py`` and ``build_dir/policies/*.json``."""
    digest = hashlib.sha256()
    files = sorted([*build_dir.glob("*.py"), *build_dir.glob("policies/*.json")])
    for path in files:
        digest.update(f"{path.relative_to(build_dir).as_posix()}\0".encode())
        digest.update(path.read_bytes())
        digest.update(b"\0")
    return digest.hexdigest()


@functools.cache
def builder_fingerprint() -> str:
    """The build code, patchelf and the Python + zlib that write the zips, as one digest."""
    try:
        patchelf = sha256_file(Path(patchelf_path()))
    except BuildError:
        patchelf = "none"  # a build that needs patchelf fails later with the fix
    tools = (
        f"patchelf={patchelf};python={platform.python_version()};zlib={zlib.ZLIB_RUNTIME_VERSION}"
    )
    return hashlib.sha256(f"{fingerprint_of(BUILD_DIR)};{tools}".encode()).hexdigest()


@dataclass(frozen=True)
class Source:
    """What made one artifact, recorded as its manifest entry's ``source``."""

    binary_sha256: str
    policy: str
    policy_sha256: str
    builder: str
    ld_library_path: tuple[str, ...]
    zip_epoch: int | None
    """The timestamp of every zip entry (None for the server, which is not zipped)."""
    ca_bundle_sha256: str
    """The RDS CA bundle copied into the artifact (build/certs.py)."""

    def record(self) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "binary_sha256": self.binary_sha256,
            "policy": self.policy,
            "policy_sha256": self.policy_sha256,
            "builder": self.builder,
            "ld_library_path": list(self.ld_library_path),
            "ca_bundle_sha256": self.ca_bundle_sha256,
        }
        if self.zip_epoch is not None:
            entry["zip_epoch"] = self.zip_epoch
        return entry


@functools.cache
def _policy_sha256(path: Path) -> str:
    return sha256_file(path)


def source_of(
    binary: Path,
    policy: Policy,
    *,
    ld_library_path: tuple[str, ...],
    zip_epoch: int | None,
    ca_bundle_sha256: str,
) -> Source:
    return Source(
        binary_sha256=sha256_file(binary),
        policy=policy.runtime,
        policy_sha256=_policy_sha256(policy.path),
        builder=builder_fingerprint(),
        ld_library_path=ld_library_path,
        zip_epoch=zip_epoch,
        ca_bundle_sha256=ca_bundle_sha256,
    )


def load_previous(dist: Path, policy: Policy, arch: ArchPolicy) -> dict[str, Any] | None:
    """The previous manifest when its artifacts can be reused, else None (the reason logged)."""
    path = dist / MANIFEST_NAME
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        log.info("cache: no previous %s, building everything", path)
        return None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        log.info("cache: the previous %s cannot be read (%s), building everything", path, exc)
        return None
    if not isinstance(data, dict):
        log.info("cache: the previous %s is not an object, building everything", path)
        return None
    expected = {
        "version": MANIFEST_VERSION,
        "runtime": policy.runtime,
        "architecture": arch.name,
    }
    for key, value in expected.items():
        if data.get(key) != value:
            log.info(
                "cache: the previous manifest has %s %r, this build %r: building everything",
                key,
                data.get(key),
                value,
            )
            return None
    return data


class LibraryHashes:
    """sha256 of each bundled library's original file, hashed once per build."""

    def __init__(self) -> None:
        self._seen: dict[str, str | None] = {}

    def get(self, original: str) -> str | None:
        """The file's sha256, or None when it is gone or unreadable."""
        if original not in self._seen:
            try:
                self._seen[original] = sha256_file(Path(original))
            except OSError:
                self._seen[original] = None
        return self._seen[original]


def _mismatches(recorded: Any, source: Source) -> Iterator[str]:
    if not isinstance(recorded, dict):
        yield "the previous manifest has no `source` record (written by an older build)"
        return
    for key, value in source.record().items():
        if recorded.get(key) != value:
            yield f"{key} changed ({_short(recorded.get(key))} -> {_short(value)})"
    for key in recorded.keys() - source.record().keys():
        yield f"{key} changed ({_short(recorded[key])} -> None)"


def _short(value: object) -> str:
    text = json.dumps(value)
    return text[:14] + '..."' if isinstance(value, str) and len(value) > 12 else text


FUNCTION_FIELDS: dict[str, tuple[type, ...]] = {
    "sha256": (str,),
    "unzipped_size": (int,),
    "glibc_required": (str, type(None)),
}
SERVER_FIELDS: dict[str, tuple[type, ...]] = {
    "sha256": (str,),
    "glibc_required": (str, type(None)),
}


def stale_reason(
    entry: Any, source: Source, hashes: LibraryHashes, fields: dict[str, tuple[type, ...]]
) -> str | None:
    """Why the previous ``entry`` cannot be reused for ``source``, or None when it can.

    ``fields``: the keys the reuse copies from the entry, with their types (a hand-edited
    manifest is rebuilt over, never trusted).
    """
    if not isinstance(entry, dict):
        return "not in the previous manifest"
    for key, types in fields.items():
        if not isinstance(entry.get(key), types):
            return f"the previous entry's {key} is {entry.get(key)!r}"
    reasons = list(_mismatches(entry.get("source"), source))
    if reasons:
        return "; ".join(reasons)
    return _library_change(entry.get("bundled"), hashes)


def _library_change(bundled: Any, hashes: LibraryHashes) -> str | None:
    """The first bundled library whose original file is gone or changed, or None."""
    if not isinstance(bundled, list):
        return "the previous entry has no `bundled` list"
    for lib in bundled:
        original = lib.get("original") if isinstance(lib, dict) else None
        if not isinstance(original, str):
            return f"a bundled library has no `original` path: {lib!r}"
        digest = hashes.get(original)
        if digest is None:
            return f"the bundled library {original} is gone"
        if digest != lib.get("sha256"):
            return f"the bundled library {original} changed (sha256 {digest[:12]}...)"
    return None


def _link_or_copy(src: str, dst: str) -> None:
    """A hard link (the previous file is never modified in place: dist/ is renamed into)."""
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def reuse_file(previous: Path, expected_sha256: object, dest: Path) -> str | None:
    """Put ``previous`` at ``dest`` if its sha256 is the recorded one; else the reason not to."""
    try:
        actual = sha256_file(previous)
    except OSError:
        return f"the previous {previous} is missing"
    if actual != expected_sha256:
        return f"the previous {previous} differs from its manifest sha256 (tampered or partial)"
    _link_or_copy(str(previous), str(dest))
    return None


def tree_sha256(root: Path) -> str:
    """The server's digest: sha256 over the sorted (path, mode, sha256) of every file."""
    listing = "".join(f"{path}\t{mode:o}\t{digest}\n" for path, mode, digest in file_digests(root))
    return hashlib.sha256(listing.encode()).hexdigest()


def reuse_tree(previous: Path, expected_sha256: object, dest: Path) -> str | None:
    """Put the folder ``previous`` at ``dest`` if its digest is the recorded one."""
    if not previous.is_dir():
        return f"the previous {previous} is missing"
    try:
        actual = tree_sha256(previous)
    except OSError as exc:
        return f"the previous {previous} cannot be read ({exc})"
    if actual != expected_sha256:
        return f"the previous {previous} differs from its manifest sha256 (tampered or partial)"
    shutil.copytree(previous, dest, copy_function=_link_or_copy)
    return None
