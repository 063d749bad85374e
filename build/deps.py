"""Resolve a binary's DT_NEEDED closure the way the dynamic loader does (see ld.so(8)).

For each needed name, in order: the DT_RPATH of the requesting object and of the objects that
loaded it up to the executable (only while the requester has no DT_RUNPATH), LD_LIBRARY_PATH,
the requester's DT_RUNPATH, then the system directories (what ld.so.cache would list:
/etc/ld.so.conf and the architecture's multiarch and default directories). ``$ORIGIN`` expands to
the requester's directory. A candidate counts only when its ELF class and machine match, exactly
as ld.so skips incompatible files. Libraries the runtime provides are recorded but not followed.

The result is pure data (a DependencyTree) for ``audit`` to judge.
"""

from __future__ import annotations

import dataclasses
import logging
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from build.elf import ElfInfo, is_elf, read_elf, sha256_file
from build.errors import ResolveError

log = logging.getLogger(__name__)

LD_SO_CONF = Path("/etc/ld.so.conf")


@dataclass(frozen=True)
class Library:
    """One entry of the closure, keyed by the name in DT_NEEDED."""

    name: str
    """As written in DT_NEEDED (normally the library's SONAME)."""
    provided: bool
    """The runtime provides it: not resolved, not followed, not bundled."""
    path: Path | None
    """The file it resolves to on this host (symlinks resolved); None when provided."""
    info: ElfInfo | None
    sha256: str | None
    needed_by: tuple[str, ...]
    """Names of the objects whose DT_NEEDED lists it (the root by its file name)."""

    @property
    def soname(self) -> str:
        return (self.info.soname if self.info else None) or self.name


@dataclass(frozen=True)
class DependencyTree:
    root: ElfInfo
    libraries: tuple[Library, ...]
    """In breadth-first order from the root."""
    search_dirs: tuple[Path, ...]
    """The system directories that were searched (after rpath/LD_LIBRARY_PATH/runpath)."""

    def get(self, name: str) -> Library | None:
        return next((lib for lib in self.libraries if lib.name == name), None)

    @property
    def to_bundle(self) -> tuple[Library, ...]:
        return tuple(lib for lib in self.libraries if not lib.provided)


def parse_ld_so_conf(path: Path = LD_SO_CONF, _seen: set[Path] | None = None) -> list[Path]:
    """Directories listed by ld.so.conf, following ``include`` globs; [] if unreadable."""
    seen = _seen if _seen is not None else set()
    if path in seen:
        return []
    seen.add(path)
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return []
    dirs: list[Path] = []
    for raw in lines:
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if line.startswith("include"):
            pattern = Path(line.split(None, 1)[1]) if len(line.split()) > 1 else None
            if pattern is None:
                continue
            if not pattern.is_absolute():
                pattern = path.parent / pattern
            for included in sorted(pattern.parent.glob(pattern.name)):
                dirs.extend(parse_ld_so_conf(included, seen))
        elif line.startswith("/"):
            dirs.append(Path(line))
    return dirs


def system_dirs(multiarch: str, elf_class: int, sysroot: Path | None = None) -> tuple[Path, ...]:
    """The directories ld.so.cache and the defaults would cover for this architecture.

    With ``sysroot`` (a copy of another system's root, as the docker mode makes), only that
    system's conventional directories are used.
    """
    lib = "lib64" if elf_class == 64 else "lib"
    defaults = [
        f"/lib/{multiarch}",
        f"/usr/lib/{multiarch}",
        f"/usr/{multiarch}/lib",  # Debian's cross-toolchain libraries (gcc-aarch64-linux-gnu)
        f"/{lib}",
        f"/usr/{lib}",
        "/lib",
        "/usr/lib",
    ]
    if sysroot is not None:
        return tuple(dict.fromkeys(sysroot / d.lstrip("/") for d in defaults))
    dirs = [*parse_ld_so_conf(), *(Path(d) for d in defaults)]
    return tuple(dict.fromkeys(dirs))


def _expand(entry: str, origin: Path, elf_class: int) -> Path:
    lib = "lib64" if elf_class == 64 else "lib"
    for token, value in (("$ORIGIN", str(origin)), ("${ORIGIN}", str(origin))):
        entry = entry.replace(token, value)
    for token in ("$LIB", "${LIB}"):
        entry = entry.replace(token, lib)
    return Path(entry)


def _matches(path: Path, root: ElfInfo) -> ElfInfo | None:
    if not path.is_file() or not is_elf(path):
        return None
    info = read_elf(path)
    if info.machine != root.machine or info.elf_class != root.elf_class:
        log.debug(
            "skip %s: %s/%d, want %s/%d",
            path,
            info.machine,
            info.elf_class,
            root.machine,
            root.elf_class,
        )
        return None
    return info


def resolve(
    binary: Path,
    *,
    provided: frozenset[str],
    search_dirs: Sequence[Path],
    ld_library_path: Sequence[str] = (),
) -> DependencyTree:
    """The closure of ``binary``; ResolveError for a name not found or two libraries, one name."""
    root = read_elf(binary)
    search = _Search(tuple(ld_library_path), tuple(search_dirs))
    found: dict[str, Library] = {}
    by_soname: dict[str, Library] = {}
    # (needed name, requester, chain of requesters' ElfInfo from the root down to the requester)
    queue: deque[tuple[str, ElfInfo, tuple[ElfInfo, ...]]] = deque(
        (name, root, (root,)) for name in root.needed
    )
    order: list[str] = []
    while queue:
        name, requester, chain = queue.popleft()
        requester_name = requester.soname or requester.path.name
        if name in found:
            if not found[name].provided:
                _check_same(found[name], name, requester, chain, search)
            _add_requester(found, name, requester_name)
            continue
        if name in provided or Path(name).name in provided:
            log.debug("%s: provided by the runtime (needed by %s)", name, requester_name)
            found[name] = Library(
                name=name,
                provided=True,
                path=None,
                info=None,
                sha256=None,
                needed_by=(requester_name,),
            )
            order.append(name)
            continue
        path, info = _locate(name, requester, chain, search)
        digest = sha256_file(path)
        library = Library(
            name=name,
            provided=False,
            path=path,
            info=info,
            sha256=digest,
            needed_by=(requester_name,),
        )
        other = by_soname.get(library.soname)
        if other is not None and other.sha256 != digest:
            raise _conflict(library.soname, other, library)
        log.debug("%s => %s (needed by %s)", name, path, requester_name)
        found[name] = library
        by_soname[library.soname] = library
        order.append(name)
        queue.extend((n, info, (*chain, info)) for n in info.needed)
    return DependencyTree(root, tuple(found[n] for n in order), tuple(search_dirs))


@dataclass(frozen=True)
class _Search:
    ld_library_path: tuple[str, ...]
    system_dirs: tuple[Path, ...]


def _add_requester(found: dict[str, Library], name: str, requester: str) -> None:
    library = found[name]
    if requester not in library.needed_by:
        found[name] = dataclasses.replace(library, needed_by=(*library.needed_by, requester))


def _check_same(
    library: Library,
    name: str,
    requester: ElfInfo,
    chain: tuple[ElfInfo, ...],
    search: _Search,
) -> None:
    """The loader would reuse the first ``name``; fail if this requester would find another."""
    path, info = _locate(name, requester, chain, search)
    if path != library.path and sha256_file(path) != library.sha256:
        other = Library(
            name=name,
            provided=False,
            path=path,
            info=info,
            sha256=sha256_file(path),
            needed_by=(requester.soname or name,),
        )
        raise _conflict(library.soname, library, other)


def _conflict(soname: str, first: Library, second: Library) -> ResolveError:
    return ResolveError(
        f"two different libraries have the SONAME {soname}: {first.path} (needed by "
        f"{', '.join(first.needed_by)}) and {second.path} (needed by "
        f"{', '.join(second.needed_by)}); the loader would load only one, so make every "
        "rpath/LD_LIBRARY_PATH entry find the same file"
    )


def _candidates(
    name: str,
    requester: ElfInfo,
    chain: tuple[ElfInfo, ...],
    search: _Search,
) -> list[Path]:
    if "/" in name:  # a path in DT_NEEDED is used as it is
        return [Path(name)]
    dirs: list[Path] = []
    if not requester.runpath:
        for obj in reversed(chain):  # the requester first, then its loaders up to the executable
            dirs.extend(_expand(e, obj.path.parent, obj.elf_class) for e in obj.rpath)
    dirs.extend(Path(e) for e in search.ld_library_path if e)
    dirs.extend(_expand(e, requester.path.parent, requester.elf_class) for e in requester.runpath)
    dirs.extend(search.system_dirs)
    return [d / name for d in dict.fromkeys(dirs)]


def _locate(
    name: str,
    requester: ElfInfo,
    chain: tuple[ElfInfo, ...],
    search: _Search,
) -> tuple[Path, ElfInfo]:
    candidates = _candidates(name, requester, chain, search)
    for candidate in candidates:
        real = candidate.resolve()
        info = _matches(real, requester)
        if info is not None:
            return real, info
    raise ResolveError(
        f"{name} (DT_NEEDED of {requester.path}) cannot be found: searched "
        f"{len(candidates)} places ({', '.join(str(c.parent) for c in candidates[:6])}"
        f"{', ...' if len(candidates) > 6 else ''}) for a {requester.elf_class}-bit "
        f"{requester.machine} library; install the package that ships it (e.g. `apt-get install "
        f"<package>`) or add its directory to LD_LIBRARY_PATH"
    )
