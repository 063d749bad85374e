"""Read what the loader reads from an ELF file: machine, needed libraries, paths, symbol versions.

pyelftools only, never ``ldd``: nothing is executed, and arm64 files read the same on any host.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from elftools.common.exceptions import ELFError
from elftools.elf.dynamic import DynamicSection
from elftools.elf.elffile import ELFFile
from elftools.elf.gnuversions import GNUVerNeedSection, GNUVerSymSection
from elftools.elf.sections import SymbolTableSection

from build.errors import ElfError

ELF_MAGIC = b"\x7fELF"
_HIDDEN = 0x8000  # high bit of a .gnu.version entry: the symbol is hidden, the rest is the index


@dataclass(frozen=True)
class VersionNeed:
    """One ``.gnu.version_r`` entry: ``file`` must define ``version``, used by ``symbols``."""

    file: str
    """The needed library's name as recorded (its SONAME), e.g. ``libc.so.6``."""
    version: str
    """e.g. ``GLIBC_2.34``."""
    symbols: tuple[str, ...]
    """Undefined dynamic symbols bound to this version, sorted."""

    @property
    def family(self) -> str:
        """``GLIBC_2.34`` -> ``GLIBC``; ``OPENSSL_3.0.0`` -> ``OPENSSL``."""
        return self.version.rpartition("_")[0] or self.version


@dataclass(frozen=True)
class ElfInfo:
    """The dynamic-linking facts of one ELF file."""

    path: Path
    machine: str
    """pyelftools' ``e_machine``: ``EM_X86_64``, ``EM_AARCH64``, ..."""
    elf_class: int
    elf_type: str
    """``ET_EXEC`` or ``ET_DYN`` (PIE executables and libraries)."""
    interpreter: str | None
    soname: str | None
    needed: tuple[str, ...]
    rpath: tuple[str, ...]
    runpath: tuple[str, ...]
    version_needs: tuple[VersionNeed, ...]

    @property
    def is_static(self) -> bool:
        return self.interpreter is None and not self.needed


MACHINE_NAMES = {"EM_X86_64": "x86_64", "EM_AARCH64": "arm64", "EM_386": "x86", "EM_ARM": "arm"}


def machine_name(machine: str) -> str:
    """A readable name for an ``e_machine`` value (Lambda's names where Lambda has one)."""
    return MACHINE_NAMES.get(machine, machine)


def is_elf(path: Path) -> bool:
    try:
        with path.open("rb") as f:
            return f.read(4) == ELF_MAGIC
    except OSError:
        return False


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _split_path(value: str) -> tuple[str, ...]:
    return tuple(p for p in value.split(":") if p)


def read_elf(path: Path) -> ElfInfo:
    """Read ``path``; ElfError (one line) when it is missing, not ELF or corrupt."""
    try:
        f = path.open("rb")
    except OSError as exc:
        raise ElfError(
            f"{path} cannot be read ({exc.strerror}): pass an existing ELF binary"
        ) from exc
    with f:
        magic = f.read(4)
        if magic != ELF_MAGIC:
            raise ElfError(
                f"{path} is not an ELF file: it starts with {magic!r}, not {ELF_MAGIC!r}; pass a "
                "Linux binary or shared library (or a Lambda zip holding `bootstrap`)"
            )
        f.seek(0)
        try:
            return _read(path, ELFFile(f))
        except (ELFError, ValueError, KeyError, IndexError, OSError) as exc:
            raise ElfError(
                f"{path} is a corrupt or truncated ELF file ({exc}): rebuild it"
            ) from exc


def _read(path: Path, elf: ELFFile) -> ElfInfo:
    interpreter = None
    for segment in elf.iter_segments():
        if segment["p_type"] == "PT_INTERP":
            interpreter = segment.get_interp_name()
    soname = None
    needed: list[str] = []
    rpath: tuple[str, ...] = ()
    runpath: tuple[str, ...] = ()
    version_needs: list[VersionNeed] = []
    dynamic = next((s for s in elf.iter_sections() if isinstance(s, DynamicSection)), None)
    if dynamic is not None:
        for tag in dynamic.iter_tags():
            if tag.entry.d_tag == "DT_NEEDED":
                needed.append(tag.needed)
            elif tag.entry.d_tag == "DT_SONAME":
                soname = tag.soname
            elif tag.entry.d_tag == "DT_RPATH":
                rpath = _split_path(tag.rpath)
            elif tag.entry.d_tag == "DT_RUNPATH":
                runpath = _split_path(tag.runpath)
        version_needs = _version_needs(elf)
    return ElfInfo(
        path=path,
        machine=elf["e_machine"],
        elf_class=elf.elfclass,
        elf_type=elf["e_type"],
        interpreter=interpreter,
        soname=soname,
        needed=tuple(needed),
        rpath=rpath,
        runpath=runpath,
        version_needs=tuple(version_needs),
    )


def _version_needs(elf: ELFFile) -> list[VersionNeed]:
    verneed = next((s for s in elf.iter_sections() if isinstance(s, GNUVerNeedSection)), None)
    if verneed is None:
        return []
    by_index: dict[int, tuple[str, str]] = {}
    for need, auxiliaries in verneed.iter_versions():
        for aux in auxiliaries:
            by_index[aux["vna_other"]] = (need.name, aux.name)
    symbols: dict[int, list[str]] = {index: [] for index in by_index}
    versym = next((s for s in elf.iter_sections() if isinstance(s, GNUVerSymSection)), None)
    dynsym = elf.get_section_by_name(".dynsym")
    if isinstance(versym, GNUVerSymSection) and isinstance(dynsym, SymbolTableSection):
        for name, index in _undefined_versioned(elf, dynsym, versym):
            if index in symbols:
                symbols[index].append(name)
    return [
        VersionNeed(file=file, version=version, symbols=tuple(sorted(set(symbols[index]))))
        for index, (file, version) in sorted(by_index.items())
    ]


def _undefined_versioned(
    elf: ELFFile, dynsym: SymbolTableSection, versym: GNUVerSymSection
) -> Iterator[tuple[str, int]]:
    """(name, version index) of each undefined dynamic symbol, read from the raw sections.

    pyelftools parses one symbol at a time through `construct`, about 50 us each; a Rust binary
    plus libpq's closure has tens of thousands, so the fixed-size records are unpacked here.
    """
    endian = "<" if elf.little_endian else ">"
    # Elf64_Sym: name u32, info u8, other u8, shndx u16, value u64, size u64 (24 bytes);
    # Elf32_Sym: name u32, value u32, size u32, info u8, other u8, shndx u16 (16 bytes).
    if elf.elfclass == 64:
        layout, name_at, shndx_at = endian + "IBBHQQ", 0, 3
    else:
        layout, name_at, shndx_at = endian + "IIIBBH", 0, 5
    size = struct.calcsize(layout)
    data = dynsym.data()
    strtab = elf.get_section(dynsym["sh_link"]).data()
    versions = versym.data()
    count = min(len(data) // size, len(versions) // 2)
    indices = struct.unpack(f"{endian}{count}H", versions[: count * 2])
    for i, record in enumerate(struct.iter_unpack(layout, data[: count * size])):
        if i == 0 or record[shndx_at] != 0:  # SHN_UNDEF == 0
            continue
        index = indices[i] & ~_HIDDEN
        if index <= 1:  # VER_NDX_LOCAL / VER_NDX_GLOBAL: unversioned
            continue
        start = record[name_at]
        end = strtab.find(b"\0", start)
        yield strtab[start:end].decode("utf-8", "replace"), index
