"""A tiny Cargo workspace with the five binaries (no dependencies: compiles in seconds).

``handler`` links the fixture ``libfoo.so.1`` (through ``FIXTURE_LIBDIR``), so the build has a
closure to bundle; the others need only glibc.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from build.cargo import BINARIES

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


def make_workspace(
    root: Path, *, binaries: tuple[str, ...] = BINARIES, broken: bool = False
) -> Path:
    """Write the workspace under ``root`` (with a Cargo.lock) and return ``root``."""
    (root / "src" / "bin").mkdir(parents=True)
    (root / "Cargo.toml").write_text(
        '[package]\nname = "mini"\nversion = "0.1.0"\nedition = "2021"\nbuild = "build.rs"\n\n'
        "[profile.release]\nopt-level = 1\n"
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
