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

from build import archive, cargo
from build.audit import Report, audit, check_machine
from build.deps import DependencyTree, resolve, system_dirs
from build.elf import read_elf, sha256_file
from build.errors import BundleError, ElfError, IncompatibleError, OutputError, ResolveError
from build.graft import LIB_DIR, Bundled, file_digests, graft, tree_size
from build.manifest import MANIFEST_NAME, MANIFEST_VERSION, bundled_entries, write_json_atomic
from build.policy import ArchPolicy, Policy

log = logging.getLogger(__name__)

Progress = Callable[[str], None]


@contextlib.contextmanager
def stage(progress: Progress, label: str) -> Iterator[None]:
    """Report ``label`` with its duration once the block finishes."""
    start = time.monotonic()
    yield
    progress(f"{label} ({time.monotonic() - start:.1f}s)")


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


@dataclass(frozen=True)
class Row:
    """One line of the summary table."""

    name: str
    artifact: str
    size: int
    unzipped: int
    glibc: str | None
    bundled: int


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

    Everything is staged in ``dist/.build-*`` and moved into place only when all succeeded, the
    manifest last: a failed build leaves the previous artifacts and manifest as they were.
    """
    policy, arch = options.policy, options.arch
    with stage(progress, "cargo metadata"):
        workspace = cargo.discover(options.app)
    plan = cargo.plan_compile(workspace, policy, arch, options.mode)
    with stage(progress, f"compile ({options.mode}, one cargo invocation, 5 binaries)"):
        binaries = cargo.compile_all(plan)
    staging = _staging(options.dist)
    try:
        manifest, rows = _package(binaries, staging, policy, arch, progress)
        _commit(staging, options.dist, manifest)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return manifest, rows


def _package(
    binaries: dict[str, Path], staging: Path, policy: Policy, arch: ArchPolicy, progress: Progress
) -> tuple[dict[str, Any], list[Row]]:
    functions: dict[str, Any] = {}
    rows: list[Row] = []
    for name in cargo.LAMBDAS:
        with stage(progress, f"{name}: audit, bundle, zip"):
            tree_dir = staging / "trees" / name
            prepared = prepare(binaries[name], tree_dir, policy, arch, binary_name="bootstrap")
            zip_path = staging / f"{name}.zip"
            archive.write_zip(tree_dir, zip_path)
            size, unzipped = zip_path.stat().st_size, tree_size(tree_dir)
            archive.check_limits(name, size, unzipped)
        functions[name] = {
            "zip": zip_path.name,
            "sha256": sha256_file(zip_path),
            "size": size,
            "unzipped_size": unzipped,
            "architecture": arch.name,
            "glibc_required": prepared.report.glibc_required,
            "bundled": bundled_entries(prepared.bundled),
        }
        rows.append(
            Row(
                name,
                zip_path.name,
                size,
                unzipped,
                prepared.report.glibc_required,
                len(prepared.bundled),
            )
        )
    with stage(progress, "server: audit, bundle"):
        server_dir = staging / "server"
        prepared = prepare(
            binaries[cargo.SERVER], server_dir, policy, arch, binary_name=cargo.SERVER
        )
        digests = file_digests(server_dir)
        listing = "".join(f"{path}\t{mode:o}\t{digest}\n" for path, mode, digest in digests)
        server = {
            "dir": "server",
            "binary": f"server/{cargo.SERVER}",
            "sha256": _sha256_text(listing),
            "architecture": arch.name,
            "glibc_required": prepared.report.glibc_required,
            "bundled": bundled_entries(prepared.bundled),
        }
        size = tree_size(server_dir)
        rows.append(
            Row(
                "server",
                "server/",
                size,
                size,
                prepared.report.glibc_required,
                len(prepared.bundled),
            )
        )
    manifest = {
        "version": MANIFEST_VERSION,
        "runtime": policy.runtime,
        "architecture": arch.name,
        "glibc_max": policy.glibc_str,
        "functions": functions,
        "server": server,
    }
    return manifest, rows


def _sha256_text(text: str) -> str:
    import hashlib  # noqa: PLC0415 - only here

    return hashlib.sha256(text.encode()).hexdigest()


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
