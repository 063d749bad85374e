"""The stages put together: one binary (resolve, audit, graft, re-check) and the whole build."""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import tempfile
import time
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from build import archive, cache, cargo, native
from build.audit import Report, audit, check_machine
from build.certs import CERTS_DIR, CaBundle, load_bundle
from build.deps import DependencyTree, resolve, system_dirs
from build.elf import read_elf, sha256_file
from build.errors import (
    BundleError,
    ConfigError,
    ElfError,
    IncompatibleError,
    OutputError,
    ResolveError,
)
from build.graft import LIB_DIR, Bundled, graft, tree_size
from build.manifest import MANIFEST_NAME, MANIFEST_VERSION, bundled_entries, write_json_atomic
from build.policy import ArchPolicy, Policy

log = logging.getLogger(__name__)

Progress = Callable[[str], None]
SERVER = "server"
"""The service's folder in dist/ and its binary's name there (app/Dockerfile copies it), whatever
the crate calls it; a function's binary is `bootstrap` in its zip."""


class Stage:
    """A progress line; the block may change its ``label`` (e.g. to say it reused)."""

    def __init__(self, label: str) -> None:
        self.label = label


@contextlib.contextmanager
def stage(progress: Progress, label: str) -> Iterator[Stage]:
    """Report the stage's label with its duration once the block finishes."""
    start = time.monotonic()
    current = Stage(label)
    yield current
    progress(f"{current.label} ({time.monotonic() - start:.1f}s)")


def host_ld_library_path() -> tuple[str, ...]:
    """The build host's LD_LIBRARY_PATH, honoured when resolving like ld.so would."""
    return tuple(p for p in os.environ.get("LD_LIBRARY_PATH", "").split(":") if p)


def check_report(report: Report) -> None:
    """IncompatibleError with the first problem (all of them are logged)."""
    for problem in report.problems:
        log.error("%s", problem)
    if report.problems:
        more = len(report.problems) - 1
        suffix = f" ({more} more problems: run `python -m build audit -v {report.binary}`)"
        raise IncompatibleError(report.problems[0] + (suffix if more else ""))


def resolve_on_host(binary: Path, policy: Policy, arch: ArchPolicy) -> DependencyTree:
    info = read_elf(binary)
    mismatch = check_machine(info, arch, policy.runtime)
    if mismatch:
        raise IncompatibleError(mismatch)
    return resolve(
        binary,
        provided=policy.provided,
        search_dirs=system_dirs(arch.host_multiarch, arch.elf_class),
        ld_library_path=host_ld_library_path(),
    )


def resolve_packaged(binary: Path, policy: Policy) -> DependencyTree:
    """Resolve a bundled binary as on Lambda: only the runtime's libraries and the package's.

    Nothing of the build host is searched: a library missing from the package is an error.
    """
    task_root = binary.parent
    tree = resolve(
        binary,
        provided=policy.provided,
        search_dirs=(),
        ld_library_path=(str(task_root), str(task_root / LIB_DIR)),
    )
    for lib in tree.to_bundle:
        if lib.path is not None and not lib.path.is_relative_to(task_root.resolve()):
            raise ResolveError(
                f"{lib.name} (needed by {', '.join(lib.needed_by)}) is found only at {lib.path}, "
                "outside the package, through an absolute rpath of the build machine: Lambda "
                "has no such file; bundle it with `python -m build all`"
            )
    return tree


@dataclass(frozen=True)
class Prepared:
    report: Report
    """The audit of the original binary and its host closure."""
    bundled: tuple[Bundled, ...]


def prepare(
    binary: Path, dest: Path, policy: Policy, arch: ArchPolicy, *, binary_name: str
) -> Prepared:
    """Audit ``binary``, bundle it into ``dest`` and check the result loads on the runtime."""
    tree = resolve_on_host(binary, policy, arch)
    report = audit(policy, arch, tree)
    check_report(report)
    bundled = graft(tree, dest, binary_name=binary_name)
    try:
        after = resolve_packaged(dest / binary_name, policy)
    except ResolveError as exc:
        raise BundleError(f"the bundle of {binary} is incomplete: {exc}") from exc
    lib_dir = (dest / LIB_DIR).resolve()
    outside = [lib.path for lib in after.to_bundle if lib.path and lib.path.parent != lib_dir]
    if outside:
        raise BundleError(f"the bundle of {binary} still loads {outside} from outside {dest}")
    check_report(audit(policy, arch, after))
    return Prepared(report, bundled)


@dataclass(frozen=True)
class Options:
    app: Path
    dist: Path
    policy: Policy
    arch: ArchPolicy
    mode: str = "host"
    cache: bool = True
    """Reuse a previous artifact when nothing that made it changed (build/cache.py)."""
    certs: Path = CERTS_DIR
    """The folder holding the RDS CA bundle and its provenance (build/certs.py)."""
    openssl: str = native.DEFAULT_OPENSSL
    """``static``: libssl.a/libcrypto.a linked in; ``shared``: bundled in lib/ (build/native.py)."""


@dataclass(frozen=True)
class Row:
    """One line of the summary table."""

    name: str
    artifact: str
    size: int
    unzipped: int
    glibc: str | None
    bundled: int
    reused: bool = False
    """Taken from the previous build (build/cache.py), not audited and bundled again."""


def _staging(dist: Path) -> Path:
    try:
        dist.mkdir(parents=True, exist_ok=True)
        return Path(tempfile.mkdtemp(prefix=".build-", dir=dist))
    except OSError as exc:
        raise OutputError(
            f"the output folder {dist} cannot be written ({exc.strerror or exc}): the build "
            "writes its zips and manifest there; remove what is in the way or pass --dist DIR"
        ) from exc


def build_all(options: Options, progress: Progress) -> tuple[dict[str, Any], list[Row]]:
    """Compile once, then audit + bundle + zip each Lambda, bundle the server, write the manifest.

    An artifact whose inputs all match the previous manifest's record is reused instead
    (build/cache.py). Everything is staged in ``dist/.build-*`` and moved into place only when
    all succeeded, the manifest last: a failed build leaves the previous artifacts and manifest
    as they were.
    """
    policy, arch = options.policy, options.arch
    bundle = load_bundle(options.certs)  # before compiling: a bad bundle fails in a second
    with stage(progress, "cargo metadata"):
        workspace = cargo.discover(options.app)
    plan = cargo.plan_compile(workspace, policy, arch, options.mode, openssl=options.openssl)
    linked = native.candidates(workspace.root, plan.openssl)
    for fn in workspace.functions.values():
        if fn.architecture is not None and fn.architecture != arch.name:
            raise ConfigError(
                f"function {fn.name} (crate {fn.package}) declares architecture "
                f"{fn.architecture}, but this build is for {arch.name}: one build serves one "
                f"architecture; build with --arch {fn.architecture} or drop the key"
            )
    count = len(workspace.declared)
    with stage(progress, f"compile ({options.mode}, one cargo invocation, {count} binaries)"):
        binaries = cargo.compile_all(plan)
    previous = None
    if options.cache:
        previous = cache.load_previous(options.dist, policy, arch)
    else:
        log.info("cache: --no-cache, building everything")
    staging = _staging(options.dist)
    try:
        packager = _Packager(options, bundle, staging, previous, progress, linked=linked)
        manifest, rows = packager.package(binaries, workspace)
        _commit(staging, options.dist, manifest)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return manifest, rows


class _Packager:
    """Per artifact: reuse the previous one (build/cache.py) or audit + bundle (+ zip) it."""

    def __init__(
        self,
        options: Options,
        bundle: CaBundle,
        staging: Path,
        previous: dict[str, Any] | None,
        progress: Progress,
        *,
        linked: tuple[native.StaticLibrary, ...] = (),
    ) -> None:
        self.policy, self.arch, self.dist = options.policy, options.arch, options.dist
        self.linked = linked
        self.bundle = bundle
        self.staging, self.previous, self.progress = staging, previous, progress
        self.hashes = cache.LibraryHashes()
        self.ld_library_path = host_ld_library_path()
        self.zip_epoch = archive.source_date_epoch()

    def package(
        self, binaries: dict[str, Path], workspace: cargo.Workspace
    ) -> tuple[dict[str, Any], list[Row]]:
        functions: dict[str, Any] = {}
        rows: list[Row] = []
        for name, declaration in sorted(workspace.functions.items()):
            functions[name], row = self.function(name, binaries[name])
            functions[name]["declaration"] = declaration.to_json()
            rows.append(row)
        manifest: dict[str, Any] = {
            "version": MANIFEST_VERSION,
            "runtime": self.policy.runtime,
            "architecture": self.arch.name,
            "glibc_max": self.policy.glibc_str,
            "ca_bundle": self.bundle.record(),
            "functions": functions,
        }
        if workspace.service is not None:
            server, row = self.server(binaries[workspace.service.name])
            server["declaration"] = {"bin": workspace.service.name, "port": workspace.service.port}
            manifest["server"] = server
            rows.append(row)
        return manifest, rows

    def _previous_entry(self, name: str) -> Any:
        if self.previous is None:
            return None
        if name == SERVER:
            return self.previous.get("server")
        functions = self.previous.get("functions")
        return functions.get(name) if isinstance(functions, dict) else None

    def _reusable(self, name: str, source: cache.Source) -> dict[str, Any] | None:
        """The previous entry of ``name`` if its record matches ``source``, else None."""
        if self.previous is None:
            return None
        entry = self._previous_entry(name)
        fields = cache.SERVER_FIELDS if name == SERVER else cache.FUNCTION_FIELDS
        reason = cache.stale_reason(entry, source, self.hashes, fields)
        if reason is not None:
            log.info("cache: rebuilding %s: %s", name, reason)
            return None
        assert isinstance(entry, dict)  # stale_reason checked it
        return entry

    def function(self, name: str, binary: Path) -> tuple[dict[str, Any], Row]:
        with stage(self.progress, f"{name}: audit, bundle, zip") as current:
            source = cache.source_of(
                binary,
                self.policy,
                ld_library_path=self.ld_library_path,
                zip_epoch=self.zip_epoch,
                ca_bundle_sha256=self.bundle.sha256,
            )
            zip_path = self.staging / f"{name}.zip"
            entry = self._reusable(name, source)
            if entry is not None:
                reason = cache.reuse_file(self.dist / f"{name}.zip", entry.get("sha256"), zip_path)
                if reason is None:
                    log.info(
                        "cache: reused %s.zip: binary, policy, builder, libraries unchanged", name
                    )
                    current.label = f"{name}: reused"
                    glibc, bundled = entry["glibc_required"], entry["bundled"]
                    size, unzipped = zip_path.stat().st_size, entry["unzipped_size"]
                    reused = True
                else:
                    log.info("cache: rebuilding %s: %s", name, reason)
                    entry = None
            if entry is None:
                tree_dir = self.staging / "trees" / name
                prepared = prepare(
                    binary, tree_dir, self.policy, self.arch, binary_name="bootstrap"
                )
                self.bundle.install(tree_dir)
                archive.write_zip(tree_dir, zip_path, epoch=self.zip_epoch)
                size, unzipped = zip_path.stat().st_size, tree_size(tree_dir)
                glibc, bundled = prepared.report.glibc_required, bundled_entries(prepared.bundled)
                reused = False
            archive.check_limits(name, size, unzipped)
        record = {
            "zip": zip_path.name,
            "sha256": entry["sha256"] if entry is not None else sha256_file(zip_path),
            "size": size,
            "unzipped_size": unzipped,
            "architecture": self.arch.name,
            "glibc_required": glibc,
            "bundled": bundled,
            "static": native.linked_into(binary, self.linked),
            "source": source.record(),
        }
        row = Row(name, zip_path.name, size, unzipped, glibc, len(bundled), reused)
        return record, row

    def server(self, binary: Path) -> tuple[dict[str, Any], Row]:
        name = SERVER
        with stage(self.progress, f"{name}: audit, bundle") as current:
            source = cache.source_of(
                binary,
                self.policy,
                ld_library_path=self.ld_library_path,
                zip_epoch=None,
                ca_bundle_sha256=self.bundle.sha256,
            )
            server_dir = self.staging / "server"
            entry = self._reusable(name, source)
            if entry is not None:
                reason = cache.reuse_tree(self.dist / "server", entry.get("sha256"), server_dir)
                if reason is None:
                    log.info("cache: reused server/: binary, policy, builder, libraries unchanged")
                    current.label = f"{name}: reused"
                    digest, glibc = entry["sha256"], entry["glibc_required"]
                    bundled, reused = entry["bundled"], True
                else:
                    log.info("cache: rebuilding %s: %s", name, reason)
                    entry = None
            if entry is None:
                prepared = prepare(binary, server_dir, self.policy, self.arch, binary_name=name)
                self.bundle.install(server_dir)
                digest = cache.tree_sha256(server_dir)
                glibc, bundled = prepared.report.glibc_required, bundled_entries(prepared.bundled)
                reused = False
            size = tree_size(server_dir)
        record = {
            "dir": "server",
            "binary": f"server/{name}",
            "sha256": digest,
            "architecture": self.arch.name,
            "glibc_required": glibc,
            "bundled": bundled,
            "static": native.linked_into(binary, self.linked),
            "source": source.record(),
        }
        return record, Row(name, "server/", size, size, glibc, len(bundled), reused)


def _commit(staging: Path, dist: Path, manifest: dict[str, Any]) -> None:
    """Move the staged artifacts into ``dist``; the manifest goes last."""
    for name in manifest["functions"]:
        (staging / f"{name}.zip").replace(dist / f"{name}.zip")
    server = dist / "server"
    if server.exists():
        server.replace(staging / "server.old")
    (staging / "server").replace(server)
    write_json_atomic(dist / MANIFEST_NAME, manifest)


# --- auditing packaged artifacts (a Lambda zip, a bundled folder) -------------------------------


@contextlib.contextmanager
def unpacked(path: Path) -> Iterator[Path]:
    """The executable to audit inside ``path``: itself, a zip's bootstrap, or a folder's binary."""
    if path.is_dir():
        yield _folder_binary(path)
        return
    if zipfile.is_zipfile(path):
        with tempfile.TemporaryDirectory(prefix="audit-") as tmp:
            with zipfile.ZipFile(path) as archive_file:
                if "bootstrap" not in archive_file.namelist():
                    raise ElfError(
                        f"{path} has no `bootstrap` at its root: a provided.* Lambda zip must; "
                        "rebuild it with `make build`"
                    )
                archive_file.extractall(tmp)
            yield Path(tmp) / "bootstrap"
        return
    yield path


def _folder_binary(folder: Path) -> Path:
    candidates = sorted(p for p in folder.iterdir() if p.is_file() and os.access(p, os.X_OK))
    if len(candidates) != 1:
        raise ElfError(
            f"{folder} must hold exactly one executable next to lib/, found "
            f"{[p.name for p in candidates]}; pass the binary itself"
        )
    return candidates[0]


def is_package(path: Path) -> bool:
    return path.is_dir() or zipfile.is_zipfile(path)
