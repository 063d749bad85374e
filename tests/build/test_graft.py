from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from build.deps import resolve, system_dirs
from build.elf import read_elf, sha256_file
from build.errors import BundleError
from build.graft import graft, hashed_name
from build.pipeline import prepare
from build.policy import load_policy

AL2023 = load_policy("provided.al2023")
HOST_DIRS = system_dirs("x86_64-linux-gnu", 64)


@pytest.mark.parametrize(
    ("soname", "expected"),
    [
        ("libpq.so.5", "libpq-0123abcd.so.5"),
        ("libssl.so.3", "libssl-0123abcd.so.3"),
        ("libldap-2.5.so.0", "libldap-2.5-0123abcd.so.0"),
        ("libfoo.so", "libfoo-0123abcd.so"),
        ("weird", "weird-0123abcd"),
    ],
)
def test_hashed_name(soname, expected):
    assert hashed_name(soname, "0123abcd" + "0" * 56) == expected


@pytest.fixture
def grafted(tmp_path: Path, elf_fixtures):
    tree = resolve(elf_fixtures.prog, provided=AL2023.provided, search_dirs=HOST_DIRS)
    dest = tmp_path / "pkg"
    bundled = graft(tree, dest)
    return dest, bundled


def test_layout_names_and_modes(grafted, elf_fixtures):
    dest, bundled = grafted
    foo_hash = sha256_file(elf_fixtures.libdir / "libfoo.so.1")[:8]
    bar_hash = sha256_file(elf_fixtures.libdir / "libbar.so.1")[:8]
    assert [b.name for b in bundled] == sorted(
        [f"libfoo-{foo_hash}.so.1", f"libbar-{bar_hash}.so.1"]
    )
    assert sorted(p.name for p in (dest / "lib").iterdir()) == [b.name for b in bundled]
    assert (dest / "bootstrap").stat().st_mode & 0o777 == 0o755
    for b in bundled:
        assert (dest / "lib" / b.name).stat().st_mode & 0o777 == 0o644
        assert b.original == elf_fixtures.libdir / b.soname


def test_needed_soname_rpath_and_version_needs_are_rewritten(grafted):
    dest, bundled = grafted
    names = {b.soname: b.name for b in bundled}
    boot = read_elf(dest / "bootstrap")
    assert boot.needed == (names["libfoo.so.1"], "libc.so.6")
    assert boot.rpath == ("$ORIGIN/lib",)
    assert boot.runpath == ()  # DT_RPATH: searched before LD_LIBRARY_PATH
    assert {n.file for n in boot.version_needs} == {names["libfoo.so.1"], "libc.so.6"}
    foo = read_elf(dest / "lib" / names["libfoo.so.1"])
    assert foo.soname == names["libfoo.so.1"]
    assert foo.needed == (names["libbar.so.1"],)
    assert foo.rpath == ("$ORIGIN",)
    assert foo.runpath == ()


def test_bundled_library_wins_over_a_shadowing_one_on_ld_library_path(grafted, elf_fixtures):
    """The trap: Lambda's LD_LIBRARY_PATH lists /lib64 first. A library of the same SONAME there
    must not replace ours. The ungrafted program (DT_RUNPATH) falls into it; the bundle does not.
    """
    env = {**os.environ, "LD_LIBRARY_PATH": str(elf_fixtures.impostor)}
    original = subprocess.run(
        [elf_fixtures.prog], env=env, capture_output=True, text=True, check=True
    )
    assert original.stdout == "99\n"  # the trap is real
    dest, _ = grafted
    bundled = subprocess.run(
        [dest / "bootstrap"], env=env, capture_output=True, text=True, check=True
    )
    assert bundled.stdout == "11\n"


def test_bundle_runs_from_another_folder_without_the_build_tree(grafted, tmp_path: Path):
    dest, _ = grafted
    moved = tmp_path / "var-task"
    dest.rename(moved)
    out = subprocess.run(
        [moved / "bootstrap"],
        capture_output=True,
        text=True,
        check=True,
        env={"LD_LIBRARY_PATH": "/lib64:/usr/lib64"},
    )
    assert out.stdout == "11\n"


def test_nothing_to_bundle_leaves_the_binary_unchanged(tmp_path: Path, elf_fixtures):
    tree = resolve(elf_fixtures.hello, provided=AL2023.provided, search_dirs=HOST_DIRS)
    assert graft(tree, tmp_path / "pkg") == ()
    assert not (tmp_path / "pkg" / "lib").exists()
    assert (tmp_path / "pkg" / "bootstrap").read_bytes() == elf_fixtures.hello.read_bytes()


def test_prepare_checks_and_bundles(tmp_path: Path, elf_fixtures):
    prepared = prepare(
        elf_fixtures.prog, tmp_path / "pkg", AL2023, AL2023.arch("x86_64"), binary_name="bootstrap"
    )
    assert prepared.report.ok
    assert len(prepared.bundled) == 2


def test_patchelf_failure_is_a_bundle_error(tmp_path: Path, elf_fixtures, monkeypatch):
    fake = tmp_path / "patchelf"
    fake.write_text("#!/bin/sh\necho 'cannot patch' >&2\nexit 3\n")
    fake.chmod(0o755)
    monkeypatch.setattr("build.graft.patchelf_path", lambda: str(fake))
    tree = resolve(elf_fixtures.prog, provided=AL2023.provided, search_dirs=HOST_DIRS)
    with pytest.raises(
        BundleError,
        match=r"patching libfoo-\w{8}.so.1 failed: .*exit status 3: "
        r"cannot patch",
    ):
        graft(tree, tmp_path / "pkg")
