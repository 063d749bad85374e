"""Judge a dependency tree against a runtime policy: a pure function, data in, report out.

Catches what fails at the first invocation on Lambda: the wrong architecture or loader, a symbol
version newer than the runtime's glibc (``version `GLIBC_2.36' not found``) or libgcc_s, and
lists which libraries the runtime provides and which must be bundled.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from build.deps import DependencyTree, Library
from build.elf import ElfInfo, VersionNeed, machine_name
from build.policy import ArchPolicy, Policy, Version, format_version, parse_version

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Requirement:
    """One versioned symbol an object needs: ``symbol@GLIBC_2.34`` from ``library``."""

    family: str
    version: Version
    symbol: str
    library: str
    requester: str

    @property
    def version_name(self) -> str:
        return f"{self.family}_{format_version(self.version)}"

    def describe(self) -> str:
        return f"{self.symbol}@{self.version_name} from {self.library} (needed by {self.requester})"


@dataclass(frozen=True)
class Report:
    """The verdict on one binary and its closure."""

    binary: Path
    runtime: str
    architecture: str
    machine: str
    """The binary's architecture in Lambda's words (``x86_64``, ``arm64``) or e_machine."""
    highest: dict[str, Requirement]
    """Per version family (GLIBC, GCC, GLIBCXX, ...), the highest version needed and by what."""
    provided: tuple[str, ...]
    bundle: tuple[Library, ...]
    problems: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def glibc_required(self) -> str | None:
        need = self.highest.get("GLIBC")
        return format_version(need.version) if need else None


def _parse(need: VersionNeed) -> tuple[str, Version] | None:
    family, _, number = need.version.rpartition("_")
    try:
        return family, parse_version(number)
    except ValueError:
        return None


def check_machine(info: ElfInfo, arch: ArchPolicy, runtime: str) -> str | None:
    """A problem line when ``info`` is not built for ``arch``, else None."""
    if info.machine != arch.elf_machine or info.elf_class != arch.elf_class:
        return (
            f"{info.path} is built for {machine_name(info.machine)} ({info.elf_class}-bit) but "
            f"the function targets {runtime} on {arch.name}; build for {arch.name} "
            f"(Rust target {arch.rust_target}) or pass --arch {machine_name(info.machine)}"
        )
    return None


def audit(policy: Policy, arch: ArchPolicy, tree: DependencyTree) -> Report:
    """Everything wrong with running ``tree`` on ``policy``/``arch``, and what to bundle."""
    problems: list[str] = []
    root = tree.root
    mismatch = check_machine(root, arch, policy.runtime)
    if mismatch:
        problems.append(mismatch)
    if root.interpreter is not None and root.interpreter != arch.loader:
        problems.append(
            f"{root.path} asks for the loader {root.interpreter} but {policy.runtime} on "
            f"{arch.name} has {arch.loader}; build for the {arch.rust_target} target (glibc, "
            "not musl)"
        )
    objects: list[tuple[str, ElfInfo]] = [(root.path.name, root)]
    objects += [(lib.soname, lib.info) for lib in tree.to_bundle if lib.info is not None]
    highest: dict[str, Requirement] = {}
    for name, info in objects:
        for need in info.version_needs:
            problems.extend(_check_need(policy, name, need, highest))
    for lib in tree.libraries:
        log.debug(
            "%s: %s (needed by %s)",
            lib.name,
            "provided by the runtime, excluded" if lib.provided else f"bundle {lib.path}",
            ", ".join(lib.needed_by),
        )
    return Report(
        binary=root.path,
        runtime=policy.runtime,
        architecture=arch.name,
        machine=machine_name(root.machine),
        highest=highest,
        provided=tuple(lib.name for lib in tree.libraries if lib.provided),
        bundle=tree.to_bundle,
        problems=tuple(problems),
    )


def _check_need(
    policy: Policy, name: str, need: VersionNeed, highest: dict[str, Requirement]
) -> list[str]:
    """Problems with one version need of object ``name``; records it in ``highest``."""
    provided = need.file in policy.provided
    symbol = need.symbols[0] if need.symbols else "(no symbol)"
    parsed = _parse(need)
    if parsed is None:
        if provided and need.version == "GLIBC_PRIVATE":
            return [
                f"{name} needs {symbol}@GLIBC_PRIVATE from {need.file}: glibc's private "
                "interface differs between glibc builds; bundle a library built against "
                f"glibc {policy.glibc_str} instead"
            ]
        return []  # a version name without a number (gssapi_krb5_2_MIT): nothing to compare
    family, version = parsed
    if family not in highest or version > highest[family].version:
        highest[family] = Requirement(family, version, symbol, need.file, name)
    if not provided:
        return []  # satisfied by the bundled library that defines it
    limit = policy.symbol_versions.get(family)
    if limit is None:
        return [
            f"{name} needs {symbol}@{need.version} from {need.file}, which {policy.runtime} "
            "provides without that version family; rebuild without it"
        ]
    if version <= limit:
        return []
    return [
        f"{name} needs {symbol_name}@{need.version} from {need.file} but {policy.runtime} has "
        f"{family} {format_version(limit)}; build against glibc {policy.glibc_str} "
        f"(`python -m build all --mode zig` targets it) or replace the code that calls "
        f"{symbol_name}"
        for symbol_name in need.symbols or ("(no symbol)",)
    ]
