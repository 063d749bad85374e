from __future__ import annotations

import shutil
import subprocess

import pytest

from build.audit import _check_need, audit
from build.deps import resolve, system_dirs
from build.elf import VersionNeed
from build.policy import load_policy

AL2023 = load_policy("provided.al2023")
AL2 = load_policy("provided.al2")
HOST_DIRS = system_dirs("x86_64-linux-gnu", 64)


def _report(path, policy=AL2023, arch="x86_64"):
    tree = resolve(path, provided=policy.provided, search_dirs=HOST_DIRS)
    return audit(policy, policy.arch(arch), tree)


def test_compatible_program(elf_fixtures):
    report = _report(elf_fixtures.prog)
    assert report.ok, report.problems
    assert report.machine == "x86_64"
    assert report.provided == ("libc.so.6",)
    assert [lib.name for lib in report.bundle] == ["libfoo.so.1", "libbar.so.1"]
    assert report.highest["FOO"].describe() == "foo@FOO_1.0 from libfoo.so.1 (needed by prog)"
    assert report.glibc_required is not None


def test_newer_glibc_symbol_is_rejected_naming_symbol_and_library(elf_fixtures):
    report = _report(elf_fixtures.newglibc)
    assert not report.ok
    assert report.glibc_required == "2.36"
    assert report.highest["GLIBC"].symbol == "arc4random"
    assert report.problems == (
        "newglibc needs arc4random@GLIBC_2.36 from libc.so.6 but provided.al2023 has GLIBC 2.34; "
        "build against glibc 2.34 (`python -m build all --mode zig` targets it) or replace the "
        "code that calls arc4random",
    )


def test_same_binary_fits_a_newer_policy(elf_fixtures):
    report = _report(elf_fixtures.prog, AL2)
    # this host's gcc links __libc_start_main@GLIBC_2.34: too new for Amazon Linux 2 (2.26)
    assert not report.ok
    assert any(
        "@GLIBC_2.34 from libc.so.6 but provided.al2 has GLIBC 2.26" in p for p in report.problems
    )


def test_wrong_architecture(arm64):
    tree = resolve(arm64 / "hello", provided=AL2023.provided, search_dirs=())
    report = audit(AL2023, AL2023.arch("x86_64"), tree)
    assert report.machine == "arm64"
    assert report.problems[0] == (
        f"{arm64 / 'hello'} is built for arm64 (64-bit) but the function targets provided.al2023 "
        "on x86_64; build for x86_64 (Rust target x86_64-unknown-linux-gnu) or pass --arch arm64"
    )
    assert audit(AL2023, AL2023.arch("arm64"), tree).ok


def test_wrong_loader(tmp_path, elf_fixtures):

    shutil.copy(elf_fixtures.hello, tmp_path / "musl")
    subprocess.run(
        ["patchelf", "--set-interpreter", "/lib/ld-musl-x86_64.so.1", str(tmp_path / "musl")],
        check=True,
    )
    report = _report(tmp_path / "musl")
    assert report.problems == (
        f"{tmp_path / 'musl'} asks for the loader /lib/ld-musl-x86_64.so.1 but provided.al2023 "
        "on x86_64 has /lib64/ld-linux-x86-64.so.2; build for the x86_64-unknown-linux-gnu "
        "target (glibc, not musl)",
    )


@pytest.mark.parametrize("gcc_version", ["7.0.0", "12.0.0"])
def test_gcc_family_limit(tmp_path, gcc_version):
    # libgcc_s symbol versions are checked against the policy's GCC limit.

    need = VersionNeed("libgcc_s.so.1", f"GCC_{gcc_version}", ("__sym",))
    problems = _check_need(AL2023, "bin", need, {})
    assert bool(problems) == (gcc_version == "12.0.0")
