from __future__ import annotations

from pathlib import Path

import pytest

from build.elf import read_elf
from build.errors import ElfError


def test_reads_needed_soname_runpath_and_version_needs(elf_fixtures):
    prog = read_elf(elf_fixtures.prog)
    assert prog.machine == "EM_X86_64"
    assert prog.elf_class == 64
    assert prog.interpreter == "/lib64/ld-linux-x86-64.so.2"
    assert prog.needed == ("libfoo.so.1", "libc.so.6")
    assert prog.runpath == (str(elf_fixtures.libdir),)
    assert prog.rpath == ()
    needs = {(n.file, n.version): n.symbols for n in prog.version_needs}
    assert needs[("libfoo.so.1", "FOO_1.0")] == ("foo",)
    lib = read_elf(elf_fixtures.libdir / "libfoo.so.1")
    assert lib.soname == "libfoo.so.1"
    assert lib.needed == ("libbar.so.1",)


def test_names_the_symbol_that_needs_a_glibc_version(elf_fixtures):
    needs = read_elf(elf_fixtures.newglibc).version_needs
    assert any(
        n.file == "libc.so.6" and n.version == "GLIBC_2.36" and n.symbols == ("arc4random",)
        for n in needs
    )


def test_rpath_is_read(elf_fixtures):
    assert read_elf(elf_fixtures.conflict).rpath == (
        str(elf_fixtures.libdir),
        str(elf_fixtures.root / "other"),
    )


def test_not_elf(tmp_path: Path):
    path = tmp_path / "script.sh"
    path.write_text("#!/bin/sh\necho hi\n")
    with pytest.raises(ElfError, match=r"script.sh is not an ELF file: it starts with b'#!/b'"):
        read_elf(path)


def test_truncated_elf(tmp_path: Path, elf_fixtures):
    path = tmp_path / "truncated"
    path.write_bytes(elf_fixtures.prog.read_bytes()[:100])
    with pytest.raises(
        ElfError, match=r"truncated is a corrupt or truncated ELF file .*rebuild it"
    ):
        read_elf(path)


def test_missing_file(tmp_path: Path):
    with pytest.raises(ElfError, match=r"nope cannot be read .*pass an existing ELF binary"):
        read_elf(tmp_path / "nope")


def test_arm64_machine(arm64):
    info = read_elf(arm64 / "hello")
    assert info.machine == "EM_AARCH64"
    assert info.interpreter == "/lib/ld-linux-aarch64.so.1"
