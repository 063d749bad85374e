"""Runtime policies: what a Lambda runtime provides, as versioned data validated on load.

One JSON file per runtime in ``build/policies/`` (like auditwheel's manylinux policy file): the
glibc version, the highest symbol version per versioned library family (``GLIBC``, ``GCC``), the
libraries the runtime image provides by SONAME, the loader per architecture and the runtime's
``LD_LIBRARY_PATH``. Each file cites its sources.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from build.errors import ConfigError, PolicyError

SCHEMA_VERSION = 1
POLICY_DIR = Path(__file__).resolve().parent / "policies"
ARCHITECTURES = ("x86_64", "arm64")
_VERSION = re.compile(r"^\d+(\.\d+)*$")
_SONAME = re.compile(r"^[A-Za-z0-9_.+-]+\.so(\.[0-9]+)*$")
_MACHINES = {"EM_X86_64", "EM_AARCH64"}

Version = tuple[int, ...]


def parse_version(text: str) -> Version:
    """``"2.34"`` -> ``(2, 34)``; raises ValueError for anything else."""
    if not _VERSION.match(text):
        raise ValueError(text)
    return tuple(int(part) for part in text.split("."))


def format_version(version: Version) -> str:
    """``(2, 34)`` -> ``"2.34"``."""
    return ".".join(str(part) for part in version)


HOST_ARCH = {"x86_64": "x86_64", "amd64": "x86_64", "aarch64": "arm64", "arm64": "arm64"}
"""`uname -m` -> the architecture name the policies use."""


def host_arch() -> str:
    """This machine's architecture, named as the policies name it (x86_64, arm64)."""
    return HOST_ARCH.get(os.uname().machine, os.uname().machine)


@dataclass(frozen=True)
class ArchPolicy:
    """One architecture of a runtime."""

    name: str
    """Lambda's name for it: ``x86_64`` or ``arm64``."""
    elf_machine: str
    """pyelftools' ``e_machine`` value: ``EM_X86_64`` or ``EM_AARCH64``."""
    elf_class: int
    """32 or 64."""
    rust_target: str
    """The Rust target triple, e.g. ``x86_64-unknown-linux-gnu``."""
    loader: str
    """The dynamic loader's path on the runtime (PT_INTERP)."""
    host_multiarch: str
    """Debian's multiarch tuple, for finding this architecture's libraries on the build host."""


@dataclass(frozen=True)
class Policy:
    """What one Lambda runtime provides."""

    runtime: str
    glibc: Version
    symbol_versions: dict[str, Version]
    """Highest provided version per family: ``{"GLIBC": (2, 34), "GCC": (7, 0, 0)}``."""
    provided: frozenset[str]
    """SONAMEs the runtime image provides; everything else is bundled."""
    ld_library_path: tuple[str, ...]
    architectures: dict[str, ArchPolicy]
    sources: tuple[str, ...]
    path: Path

    @property
    def glibc_str(self) -> str:
        return format_version(self.glibc)

    def arch(self, name: str) -> ArchPolicy:
        """The policy for architecture ``name``; ConfigError naming the choices otherwise."""
        try:
            return self.architectures[name]
        except KeyError:
            raise ConfigError(
                f"architecture {name!r} is unknown for runtime {self.runtime}: Lambda offers "
                f"{', '.join(sorted(self.architectures))}; pass one of them to --arch"
            ) from None


def available_runtimes(policy_dir: Path = POLICY_DIR) -> list[str]:
    """Runtimes with a policy file, sorted."""
    return sorted(p.name.removesuffix(".json") for p in policy_dir.glob("*.json"))


def load_policy(runtime: str, policy_dir: Path = POLICY_DIR) -> Policy:
    """Load and validate the policy of ``runtime`` from ``policy_dir/<runtime>.json``."""
    path = policy_dir / f"{runtime}.json"
    if not path.is_file():
        raise ConfigError(
            f"runtime {runtime!r} is unknown: the build step has policies for "
            f"{', '.join(available_runtimes(policy_dir)) or 'no runtime'}; pass one of them to "
            "--runtime"
        )
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PolicyError(
            f"policy file {path} is corrupt: it must be valid JSON, got {exc}; restore it with "
            f"`git checkout -- {path.name}` in build/policies"
        ) from exc
    return parse_policy(data, path, runtime)


def _fail(path: Path, field: str, rule: str, value: object) -> PolicyError:
    return PolicyError(
        f"policy file {path} is invalid: {field} {rule}, got {value!r}; fix the file "
        "(schema in build/README.md) or restore it from git"
    )


def _str_list(data: dict[str, Any], key: str, path: Path) -> list[str]:
    value = data.get(key)
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise _fail(path, key, "must be a non-empty list of strings", value)
    return value


def parse_policy(data: object, path: Path, runtime: str) -> Policy:
    """Validate the decoded JSON of a policy file; PolicyError names the first bad field."""
    if not isinstance(data, dict):
        raise _fail(path, "the document", "must be a JSON object", type(data).__name__)
    if data.get("schema_version") != SCHEMA_VERSION:
        raise _fail(path, "schema_version", f"must be {SCHEMA_VERSION}", data.get("schema_version"))
    if data.get("runtime") != runtime:
        raise _fail(path, "runtime", f"must match the file name {runtime!r}", data.get("runtime"))
    glibc = data.get("glibc")
    if not isinstance(glibc, str) or not _VERSION.match(glibc):
        raise _fail(path, "glibc", "must be a version string such as '2.34'", glibc)
    versions = data.get("symbol_versions")
    if not isinstance(versions, dict) or not all(
        isinstance(k, str) and isinstance(v, str) and _VERSION.match(v) for k, v in versions.items()
    ):
        raise _fail(path, "symbol_versions", "must map a family to a version string", versions)
    if versions.get("GLIBC") != glibc:
        raise _fail(path, "symbol_versions.GLIBC", f"must equal glibc {glibc!r}", versions)
    provided = _str_list(data, "provided", path)
    bad = [s for s in provided if not _SONAME.match(s)]
    if bad:
        raise _fail(path, "provided", "must list SONAMEs such as 'libc.so.6'", bad)
    if "libc.so.6" not in provided:
        raise _fail(path, "provided", "must include libc.so.6", provided)
    ld_library_path = _str_list(data, "ld_library_path", path)
    sources = _str_list(data, "sources", path)
    archs_raw = data.get("architectures")
    if not isinstance(archs_raw, dict) or not archs_raw:
        raise _fail(path, "architectures", "must be a non-empty object", archs_raw)
    archs = {name: _parse_arch(path, name, arch) for name, arch in archs_raw.items()}
    return Policy(
        runtime=runtime,
        glibc=parse_version(glibc),
        symbol_versions={k: parse_version(v) for k, v in versions.items()},
        provided=frozenset(provided),
        ld_library_path=tuple(ld_library_path),
        architectures=archs,
        sources=tuple(sources),
        path=path,
    )


def _parse_arch(path: Path, name: str, arch: object) -> ArchPolicy:
    if name not in ARCHITECTURES:
        raise _fail(path, "architectures", f"keys must be among {ARCHITECTURES}", name)
    if not isinstance(arch, dict):
        raise _fail(path, f"architectures.{name}", "must be an object", arch)
    fields = {}
    for key in ("elf_machine", "rust_target", "loader", "host_multiarch"):
        if not isinstance(arch.get(key), str) or not arch[key]:
            raise _fail(path, f"architectures.{name}.{key}", "must be a string", arch.get(key))
        fields[key] = arch[key]
    if arch["elf_machine"] not in _MACHINES:
        raise _fail(
            path, f"architectures.{name}.elf_machine", f"must be in {sorted(_MACHINES)}", arch
        )
    if arch.get("elf_class") not in (32, 64):
        raise _fail(path, f"architectures.{name}.elf_class", "must be 32 or 64", arch)
    return ArchPolicy(name=name, elf_class=arch["elf_class"], **fields)
