"""Fixture ELF files built with gcc (and zig for arm64) once per session.

- ``libbar.so.1``: bar() = 10. ``libfoo.so.1``: foo() = bar() + 1, symbol version FOO_1.0,
  needs libbar (a closure of two).
- ``impostor/libfoo.so.1``: the same SONAME and version, foo() = 99: the library a runtime
  could shadow ours with.
- ``prog``: prints foo(); DT_RUNPATH to the library folder (what a build usually leaves).
- ``newglibc``: calls arc4random, so needs GLIBC_2.36 (this host has 2.36, al2023 2.34).
- ``conflict``: needs libfoo.so.1 through its DT_RPATH (the real one) and libbaz.so.1, whose
  DT_RUNPATH finds the impostor: two different libraries with one SONAME.
- ``arm64/libfoo.so.1`` and ``arm64/hello``: aarch64 files (zig cc), when zig is available.

Rust: a tiny Cargo workspace with the five binaries and no dependencies (compiles in seconds);
``handler`` links the fixture ``libfoo.so.1`` (through ``FIXTURE_LIBDIR``).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

LIBBAR = "int bar(void) { return 10; }\n"
LIBFOO = "int bar(void);\nint foo(void) { return bar() + 1; }\n"
IMPOSTOR = "int foo(void) { return 99; }\n"
LIBBAZ = "int foo(void);\nint baz(void) { return foo(); }\n"
VERSION_SCRIPT = "FOO_1.0 { global: foo; local: *; };\n"
PROG = '#include <stdio.h>\nint foo(void);\nint main(void) { printf("%d\\n", foo()); return 0; }\n'
CONFLICT = "int foo(void);\nint baz(void);\nint main(void) { return foo() + baz(); }\n"
NEWGLIBC = (
    "#include <stdio.h>\n#include <stdlib.h>\n"
    'int main(void) { printf("%u\\n", arc4random()); return 0; }\n'
)
HELLO = '#include <stdio.h>\nint main(void) { puts("hello"); return 0; }\n'


@dataclass(frozen=True)
class Fixtures:
    root: Path
    libdir: Path
    impostor: Path
    prog: Path
    newglibc: Path
    hello: Path
    conflict: Path
    arm64: Path | None


def gcc(*args: str | Path, cwd: Path) -> None:
    subprocess.run(["gcc", *map(str, args)], cwd=cwd, check=True, capture_output=True)


def _zig_cc(src: Path, out: Path, *extra: str) -> bool:
    argv = [
        sys.executable,
        "-m",
        "ziglang",
        "cc",
        "-target",
        "aarch64-linux-gnu.2.34",
        *extra,
        "-o",
        str(out),
        str(src),
    ]
    return subprocess.run(argv, capture_output=True, check=False).returncode == 0


@pytest.fixture(scope="session")
def elf_fixtures(tmp_path_factory: pytest.TempPathFactory) -> Fixtures:
    if shutil.which("gcc") is None:
        pytest.fail("gcc is needed to build the fixture ELF files: apt-get install gcc")
    root = tmp_path_factory.mktemp("elf")
    libdir, impostor, other = root / "lib", root / "impostor", root / "other"
    for d in (libdir, impostor, other):
        d.mkdir()
    for name, text in {
        "bar.c": LIBBAR,
        "foo.c": LIBFOO,
        "impostor.c": IMPOSTOR,
        "baz.c": LIBBAZ,
        "foo.map": VERSION_SCRIPT,
        "prog.c": PROG,
        "conflict.c": CONFLICT,
        "newglibc.c": NEWGLIBC,
        "hello.c": HELLO,
    }.items():
        (root / name).write_text(text)
    gcc(
        "-shared",
        "-fPIC",
        "-Wl,-soname,libbar.so.1",
        "-o",
        libdir / "libbar.so.1",
        "bar.c",
        cwd=root,
    )
    gcc(
        "-shared",
        "-fPIC",
        "-Wl,-soname,libfoo.so.1",
        "-Wl,--version-script=foo.map",
        "-o",
        libdir / "libfoo.so.1",
        "foo.c",
        f"-L{libdir}",
        "-l:libbar.so.1",
        "-Wl,--enable-new-dtags",
        f"-Wl,-rpath,{libdir}",
        cwd=root,
    )
    gcc(
        "-shared",
        "-fPIC",
        "-Wl,-soname,libfoo.so.1",
        "-Wl,--version-script=foo.map",
        "-o",
        impostor / "libfoo.so.1",
        "impostor.c",
        cwd=root,
    )
    gcc(
        "-o",
        root / "prog",
        "prog.c",
        f"-L{libdir}",
        "-l:libfoo.so.1",
        "-Wl,--enable-new-dtags",
        f"-Wl,-rpath,{libdir}",
        cwd=root,
    )
    gcc("-o", root / "newglibc", "newglibc.c", cwd=root)
    gcc("-o", root / "hello", "hello.c", cwd=root)
    # libbaz finds the impostor through its RUNPATH; `conflict` finds the real one via RPATH.
    gcc(
        "-shared",
        "-fPIC",
        "-Wl,-soname,libbaz.so.1",
        "-o",
        other / "libbaz.so.1",
        "baz.c",
        f"-L{impostor}",
        "-l:libfoo.so.1",
        "-Wl,--enable-new-dtags",
        f"-Wl,-rpath,{impostor}",
        cwd=root,
    )
    gcc(
        "-o",
        root / "conflict",
        "conflict.c",
        f"-L{libdir}",
        f"-L{other}",
        "-l:libfoo.so.1",
        "-l:libbaz.so.1",
        "-Wl,--disable-new-dtags",
        f"-Wl,-rpath,{libdir}:{other}",
        cwd=root,
    )
    arm64: Path | None = root / "arm64"
    assert arm64 is not None
    arm64.mkdir()
    ok = _zig_cc(root / "hello.c", arm64 / "hello") and _zig_cc(
        root / "impostor.c", arm64 / "libfoo.so.1", "-shared", "-fPIC", "-Wl,-soname,libfoo.so.1"
    )
    return Fixtures(
        root,
        libdir,
        impostor,
        root / "prog",
        root / "newglibc",
        root / "hello",
        root / "conflict",
        arm64 if ok else None,
    )


@pytest.fixture
def arm64(elf_fixtures: Fixtures) -> Path:
    if elf_fixtures.arm64 is None:
        pytest.skip("zig (the ziglang wheel in requirements.txt) could not build aarch64 files")
    return elf_fixtures.arm64


BUILD_RS = """fn main() {
    println!("cargo:rerun-if-env-changed=FIXTURE_LIBDIR");
    if let Ok(dir) = std::env::var("FIXTURE_LIBDIR") {
        println!("cargo:rustc-link-search=native={dir}");
    }
}
"""
HANDLER = """#[link(name = "foo")]
extern "C" {
    fn foo() -> i32;
}

fn main() {
    println!("{}", unsafe { foo() });
}
"""
PLAIN = 'fn main() {{ println!("{name}"); }}\n'


FUNCTIONS = ("authorizer", "event", "handler", "migrate", "timer")
SERVICE = "server"
BINARIES = (*FUNCTIONS, SERVICE)


def declarations(binaries: tuple[str, ...], declared: tuple[str, ...] | None) -> str:
    """Cargo.toml tables declaring each binary of ``declared`` (default: all) as a function
    invoked by nothing, and ``server`` as the service (one crate, several binaries)."""
    tables = []
    for name in binaries if declared is None else declared:
        if name == SERVICE:
            tables.append(f"[package.metadata.rust-on-aws.bin.{name}.service]\nport = 8080\n")
        else:
            tables.append(f'[package.metadata.rust-on-aws.bin.{name}.function]\ntrigger = "none"\n')
    return "\n".join(tables)


def make_workspace(
    root: Path,
    *,
    binaries: tuple[str, ...] = BINARIES,
    broken: bool = False,
    declared: tuple[str, ...] | None = None,
) -> Path:
    """Write the workspace under ``root`` (with a Cargo.lock) and return ``root``."""
    (root / "src" / "bin").mkdir(parents=True)
    (root / "Cargo.toml").write_text(
        '[package]\nname = "mini"\nversion = "0.1.0"\nedition = "2021"\nbuild = "build.rs"\n\n'
        "[profile.release]\nopt-level = 1\n\n" + declarations(binaries, declared)
    )
    (root / "build.rs").write_text(BUILD_RS)
    for name in binaries:
        text = HANDLER if name == "handler" else PLAIN.format(name=name)
        if broken and name == "timer":
            text = 'fn main() { let x: u32 = "not a number"; }\n'
        (root / "src" / "bin" / f"{name}.rs").write_text(text)
    subprocess.run(
        ["cargo", "generate-lockfile", "--offline"], cwd=root, check=True, capture_output=True
    )
    return root


def link_dir(libdir: Path, dest: Path) -> Path:
    """A folder where ``-lfoo`` finds the fixture libfoo (the linker wants libfoo.so)."""
    dest.mkdir(parents=True, exist_ok=True)
    (dest / "libfoo.so").symlink_to(libdir / "libfoo.so.1")
    return dest


@pytest.fixture(scope="session")
def rust_workspace():
    """``make_workspace(root, binaries=..., broken=...)``: write a fixture Cargo workspace."""
    return make_workspace


@pytest.fixture(scope="session")
def foo_link_dir(elf_fixtures: Fixtures, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return link_dir(elf_fixtures.libdir, tmp_path_factory.mktemp("links"))
