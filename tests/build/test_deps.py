from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from build.deps import parse_ld_so_conf, resolve, system_dirs
from build.errors import ResolveError
from build.policy import load_policy

PROVIDED = load_policy("provided.al2023").provided
HOST_DIRS = system_dirs("x86_64-linux-gnu", 64)


def test_closure_in_breadth_first_order(elf_fixtures):
    tree = resolve(elf_fixtures.prog, provided=PROVIDED, search_dirs=HOST_DIRS)
    assert [(lib.name, lib.provided) for lib in tree.libraries] == [
        ("libfoo.so.1", False),
        ("libc.so.6", True),
        ("libbar.so.1", False),
    ]
    foo = tree.get("libfoo.so.1")
    assert foo is not None
    assert foo.path == elf_fixtures.libdir / "libfoo.so.1"
    assert foo.needed_by == ("prog",)
    assert [lib.name for lib in tree.to_bundle] == ["libfoo.so.1", "libbar.so.1"]


def test_ld_library_path_comes_before_runpath(elf_fixtures):
    tree = resolve(
        elf_fixtures.prog,
        provided=PROVIDED,
        search_dirs=HOST_DIRS,
        ld_library_path=[str(elf_fixtures.impostor)],
    )
    foo = tree.get("libfoo.so.1")
    assert foo is not None
    assert foo.path == elf_fixtures.impostor / "libfoo.so.1"
    assert tree.get("libbar.so.1") is None  # the impostor needs no libbar


def test_origin_is_expanded(tmp_path: Path, elf_fixtures):
    # libfoo's RUNPATH is absolute; a copy whose runpath is $ORIGIN must find libbar beside it.
    shutil.copy(elf_fixtures.libdir / "libbar.so.1", tmp_path)

    shutil.copy(elf_fixtures.libdir / "libfoo.so.1", tmp_path)
    subprocess.run(
        ["patchelf", "--set-rpath", "$ORIGIN", str(tmp_path / "libfoo.so.1")], check=True
    )
    tree = resolve(tmp_path / "libfoo.so.1", provided=PROVIDED, search_dirs=())
    bar = tree.get("libbar.so.1")
    assert bar is not None
    assert bar.path == tmp_path / "libbar.so.1"


def test_missing_library(tmp_path: Path, elf_fixtures):
    shutil.copy(elf_fixtures.hello, tmp_path / "prog")

    subprocess.run(
        ["patchelf", "--add-needed", "libmissing.so.7", str(tmp_path / "prog")], check=True
    )
    with pytest.raises(
        ResolveError,
        match=r"libmissing.so.7 \(DT_NEEDED of .*prog\) cannot be found: searched \d+ places .* "
        r"64-bit EM_X86_64 library; install the package",
    ):
        resolve(tmp_path / "prog", provided=PROVIDED, search_dirs=HOST_DIRS)


def test_two_libraries_with_one_soname(elf_fixtures):
    with pytest.raises(
        ResolveError,
        match=r"two different libraries have the SONAME libfoo.so.1: .*/lib/libfoo.so.1 "
        r"\(needed by conflict\) and .*/impostor/libfoo.so.1 \(needed by libbaz.so.1\)",
    ):
        resolve(elf_fixtures.conflict, provided=PROVIDED, search_dirs=HOST_DIRS)


def test_same_file_twice_is_no_conflict(elf_fixtures):
    # libbar is reached once; libc twice (prog and libfoo...): only recorded once each.
    tree = resolve(elf_fixtures.prog, provided=PROVIDED, search_dirs=HOST_DIRS)
    names = [lib.name for lib in tree.libraries]
    assert len(names) == len(set(names))


def test_wrong_machine_is_skipped_like_ld_so(arm64, elf_fixtures):
    # An aarch64 libfoo.so.1 first on the path is skipped; the x86-64 one is found after it.
    tree = resolve(
        elf_fixtures.prog,
        provided=PROVIDED,
        search_dirs=HOST_DIRS,
        ld_library_path=[str(arm64)],
    )
    foo = tree.get("libfoo.so.1")
    assert foo is not None
    assert foo.path == elf_fixtures.libdir / "libfoo.so.1"


def test_ld_so_conf_includes(tmp_path: Path):
    (tmp_path / "conf.d").mkdir()
    (tmp_path / "conf.d" / "b.conf").write_text("/opt/b\n# comment\n")
    (tmp_path / "conf.d" / "a.conf").write_text("/opt/a  # trailing\n")
    (tmp_path / "ld.so.conf").write_text("include conf.d/*.conf\n/opt/main\n")
    assert parse_ld_so_conf(tmp_path / "ld.so.conf") == [
        Path("/opt/a"),
        Path("/opt/b"),
        Path("/opt/main"),
    ]
    assert parse_ld_so_conf(tmp_path / "missing.conf") == []


def test_sysroot_dirs(tmp_path: Path):
    dirs = system_dirs("aarch64-linux-gnu", 64, sysroot=tmp_path)
    assert dirs[0] == tmp_path / "lib/aarch64-linux-gnu"
    assert tmp_path / "usr/lib64" in dirs
    assert all(str(d).startswith(str(tmp_path)) for d in dirs)
