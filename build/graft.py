"""Bundle a binary's closure into ``<dest>/lib`` the way auditwheel's repair grafts a wheel.

Each library the runtime does not provide is copied to ``lib/<stem>-<8 hex>.so.<n>`` (the hex is
the start of the original file's sha256), its SONAME and every DT_NEEDED entry naming it are
rewritten (patchelf also rewrites the matching ``.gnu.version_r`` file names, which the loader
checks), and an rpath is set: ``$ORIGIN/lib`` on the binary, ``$ORIGIN`` on each library.

Why DT_RPATH (``--force-rpath``) and not the DT_RUNPATH patchelf sets by default: the loader
searches DT_RPATH *before* LD_LIBRARY_PATH but DT_RUNPATH *after* it, and Lambda's
LD_LIBRARY_PATH starts with /lib64:/usr/lib64. With DT_RUNPATH, a libssl.so.3 in the runtime's
/usr/lib64 would shadow ours. The hashed names add a second guard: no file on the runtime can
have them, so whatever the search order, only the bundled copy matches.
"""

from __future__ import annotations

import logging
import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from build.deps import DependencyTree, Library
from build.elf import sha256_file
from build.errors import BundleError, CommandError
from build.run import run

log = logging.getLogger(__name__)

LIB_DIR = "lib"
BINARY_RPATH = "$ORIGIN/lib"
LIBRARY_RPATH = "$ORIGIN"


@dataclass(frozen=True)
class Bundled:
    """One library copied into ``lib/``."""

    name: str
    """Its file name in ``lib/``, also its new SONAME: ``libpq-1a2b3c4d.so.5``."""
    soname: str
    """Its original SONAME (``libpq.so.5``)."""
    original: Path
    """The file it was copied from (symlinks resolved)."""
    sha256: str
    """Of the original file, as its package ships it."""


def patchelf_path() -> str:
    """The pinned patchelf from the virtualenv (requirements.txt) before any on PATH."""
    beside = Path(sys.executable).parent / "patchelf"
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    found = shutil.which("patchelf")
    if found is None:
        raise BundleError(
            "patchelf is not installed: bundling needs it to rewrite DT_NEEDED and rpath; run "
            "`make setup` (it comes from requirements.txt) or `apt-get install patchelf`"
        )
    return found


def hashed_name(soname: str, sha256: str) -> str:
    """``libpq.so.5`` + digest -> ``libpq-1a2b3c4d.so.5`` (auditwheel's naming)."""
    stem, dot_so, rest = soname.partition(".so")
    return f"{stem}-{sha256[:8]}{dot_so}{rest}" if dot_so else f"{soname}-{sha256[:8]}"


def plan_names(libraries: tuple[Library, ...]) -> dict[str, str]:
    """DT_NEEDED name -> bundled file name, for every library to bundle."""
    names: dict[str, str] = {}
    for lib in libraries:
        assert lib.sha256 is not None, lib  # resolve() hashes every non-provided library
        names[lib.name] = hashed_name(lib.soname, lib.sha256)
    return names


def _patch(args: list[str], target: Path) -> None:
    try:
        run([patchelf_path(), *args, target])
    except CommandError as exc:
        raise BundleError(f"patching {target.name} failed: {exc}") from exc


def graft(
    tree: DependencyTree, dest: Path, *, binary_name: str = "bootstrap"
) -> tuple[Bundled, ...]:
    """Write ``dest/<binary_name>`` (0755) and ``dest/lib/*`` (0644); return what was bundled.

    When nothing needs bundling the binary is copied unchanged (no rpath is added).
    """
    libraries = tree.to_bundle
    names = plan_names(libraries)
    dest.mkdir(parents=True, exist_ok=True)
    binary = dest / binary_name
    shutil.copyfile(tree.root.path, binary)
    binary.chmod(0o755)
    bundled: list[Bundled] = []
    if libraries:
        lib_dir = dest / LIB_DIR
        lib_dir.mkdir(exist_ok=True)
        for lib in libraries:
            assert lib.path is not None and lib.info is not None and lib.sha256 is not None
            target = lib_dir / names[lib.name]
            shutil.copyfile(lib.path, target)
            target.chmod(0o644)
            args = ["--set-soname", names[lib.name]]
            args += _replacements(lib.info.needed, names)
            _patch([*args, "--force-rpath", "--set-rpath", LIBRARY_RPATH], target)
            log.info("bundle %s -> %s/%s", lib.path, LIB_DIR, names[lib.name])
            bundled.append(Bundled(names[lib.name], lib.soname, lib.path, lib.sha256))
        args = _replacements(tree.root.needed, names)
        _patch([*args, "--force-rpath", "--set-rpath", BINARY_RPATH], binary)
    for lib in tree.libraries:
        if lib.provided:
            log.info("exclude %s: provided by the runtime", lib.name)
    return tuple(sorted(bundled, key=lambda b: b.name))


def _replacements(needed: tuple[str, ...], names: dict[str, str]) -> list[str]:
    args: list[str] = []
    for name in needed:
        if name in names:
            args += ["--replace-needed", name, names[name]]
    return args


def tree_size(root: Path) -> int:
    """Bytes of all regular files under ``root``."""
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file())


def file_digests(root: Path) -> list[tuple[str, int, str]]:
    """Sorted ``(relative path, mode, sha256)`` of every file under ``root``."""
    return sorted(
        (p.relative_to(root).as_posix(), p.stat().st_mode & 0o777, sha256_file(p))
        for p in root.rglob("*")
        if p.is_file()
    )
