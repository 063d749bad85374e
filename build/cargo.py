"""Compile the workspace once: discover binaries with ``cargo metadata``, build all six in one
cargo invocation (host, zig or docker mode), return where the binaries are.

Reproducibility: the absolute paths that rustc would embed (panic locations of dependencies in
``$CARGO_HOME/registry``, the toolchain) are remapped with ``--remap-path-prefix``. The
workspace's own crates need no remapping: cargo hands rustc their sources relative to the
workspace root (``core/src/lib.rs``). Leaving the workspace's path out of the flags also keeps
them the same for every checkout of the repository, so two worktrees can share one target
folder and reuse each other's compiled dependencies (``python -m plan diff`` builds the base
ref that way); with the path in the flags every dependency would be compiled again.

The flags go in ``--config target.<triple>.rustflags`` and the build always passes
``--target``: with ``--target``, rustflags do not apply to build scripts and proc-macros, so the
host artifacts in ``target/release`` stay shared with a plain ``cargo build --release``, and our
flags never invalidate them (``RUSTFLAGS`` would). The cost: a user's own ``RUSTFLAGS`` or
``build.rustflags`` would take precedence over / be replaced by these, so we log a warning when
RUSTFLAGS is set.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from build.errors import CargoError, CommandError, ConfigError
from build.native import DEFAULT_OPENSSL, OpenSSLLink, check_openssl_mode, openssl_link
from build.policy import ArchPolicy, Policy, host_arch
from build.run import run, tail
from declarations import (
    DeclarationError,
    FunctionDeclaration,
    ServiceDeclaration,
    from_cargo_metadata,
)

log = logging.getLogger(__name__)

MODES = ("host", "zig", "docker")
DOCKERFILE = Path(__file__).resolve().parent / "Dockerfile.al2023"
DOCKER_IMAGE = "rust-on-aws-build:al2023"


@dataclass(frozen=True)
class Workspace:
    root: Path
    """The workspace root (the folder of the top Cargo.toml)."""
    target_dir: Path
    """From cargo metadata (honours CARGO_TARGET_DIR and .cargo/config.toml)."""
    binaries: dict[str, str]
    """Binary name -> the package that defines it."""
    functions: dict[str, FunctionDeclaration] = field(default_factory=dict)
    """The declared functions (declarations/), by binary name."""
    service: ServiceDeclaration | None = None
    """The declared ECS service, if a crate declares one."""

    @property
    def declared(self) -> tuple[str, ...]:
        """The binaries to compile: every declared function, then the service."""
        names = sorted(self.functions)
        return (*names, self.service.name) if self.service else tuple(names)


@dataclass(frozen=True)
class CompilePlan:
    """One cargo invocation and where its binaries land."""

    argv: tuple[str, ...]
    env: dict[str, str]
    cwd: Path
    artifact_dir: Path
    prepare: tuple[tuple[str, ...], ...] = ()
    """Commands to run first (docker mode: build the image)."""
    binaries: tuple[str, ...] = ()
    """The binaries the invocation builds (the declared ones)."""
    openssl: OpenSSLLink | None = None
    """Where OpenSSL is linked from (host and zig modes; docker uses the container's)."""


def discover(app_dir: Path, *, environ: Mapping[str, str] | None = None) -> Workspace:
    """Read ``cargo metadata`` of ``app_dir``; ConfigError when it or a binary is missing."""
    app_dir = app_dir.absolute()
    if not app_dir.is_dir():
        raise ConfigError(
            f"the Rust workspace {app_dir} does not exist: the build compiles app/ of the "
            "repository; run from the repository root or pass --app DIR"
        )
    manifest = app_dir / "Cargo.toml"
    if not manifest.is_file():
        raise ConfigError(
            f"{manifest} is missing: the build needs a Cargo workspace in {app_dir}; create it "
            "or pass --app DIR pointing at one"
        )
    env = dict(os.environ if environ is None else environ)
    try:
        proc = run(
            [
                "cargo",
                "metadata",
                "--format-version",
                "1",
                "--no-deps",
                "--locked",
                "--manifest-path",
                manifest,
            ],
            cwd=app_dir,
            env=env,
        )
    except CommandError as exc:
        hint = (
            f"; Cargo.lock does not list every crate (a new one?): run `cargo update --workspace` "
            f"in {app_dir} and commit Cargo.lock"
            if "--locked" in str(exc)
            else ""
        )
        raise CargoError(f"cargo metadata failed for {manifest}: {exc}{hint}") from exc
    try:
        data = json.loads(proc.stdout)
        binaries = {
            target["name"]: package["name"]
            for package in data["packages"]
            for target in package["targets"]
            if "bin" in target["kind"]
        }
        root, target_dir = Path(data["workspace_root"]), Path(data["target_directory"])
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        raise CargoError(
            f"cargo metadata for {manifest} gave output we cannot read ({exc}): "
            f"{tail(proc.stdout, 3)}; update cargo (rustup update)"
        ) from exc
    # What to build comes from the crates' own declarations, read before anything compiles.
    try:
        functions, service = from_cargo_metadata(data)
    except DeclarationError as exc:
        raise ConfigError(str(exc)) from exc
    return Workspace(root, target_dir, binaries, functions, service)


def remap_flags(environ: Mapping[str, str]) -> list[str]:
    """``--remap-path-prefix`` flags for every absolute path rustc would embed (the same for
    every checkout of the workspace: see the module docstring)."""
    home = Path(environ.get("HOME", str(Path.home())))
    cargo_home = Path(environ.get("CARGO_HOME", str(home / ".cargo")))
    rustup_home = Path(environ.get("RUSTUP_HOME", str(home / ".rustup")))
    pairs = [(cargo_home, "/cargo"), (rustup_home, "/rustup")]
    return [f"--remap-path-prefix={src}={dst}" for src, dst in pairs]


def _toml_list(values: list[str]) -> str:
    return "[" + ", ".join(json.dumps(v) for v in values) + "]"


def _cargo_args(
    arch: ArchPolicy, target: str, flags: list[str], binaries: tuple[str, ...]
) -> list[str]:
    args = ["--release", "--locked", "--target", target]
    for name in binaries:
        args += ["--bin", name]
    return [*args, "--config", f"target.{arch.rust_target}.rustflags={_toml_list(flags)}"]


def plan_compile(
    workspace: Workspace,
    policy: Policy,
    arch: ArchPolicy,
    mode: str,
    *,
    environ: Mapping[str, str] | None = None,
    openssl: str = DEFAULT_OPENSSL,
) -> CompilePlan:
    """The cargo command for ``mode``; ConfigError when the mode cannot build ``arch`` here.

    ``openssl`` (build/native.py): ``static`` links Debian's libssl.a/libcrypto.a into every
    binary, ``shared`` links libssl.so.3/libcrypto.so.3 (bundled afterwards by the graft).
    """
    env = dict(os.environ if environ is None else environ)
    flags = remap_flags(env)
    check_openssl_mode(openssl)
    release = workspace.target_dir / arch.rust_target / "release"
    if mode == "host":
        if arch.name != host_arch():
            raise ConfigError(
                f"--mode host builds for this machine's architecture ({host_arch()}), not "
                f"{arch.name}; use --mode zig (cross-compiles with zig) for {arch.name}"
            )
        link = openssl_link(openssl, arch, env)
        env.update(link.env())
        argv = ["cargo", "build", *_cargo_args(arch, arch.rust_target, flags, workspace.declared)]
        return CompilePlan(
            tuple(argv), env, workspace.root, release, binaries=workspace.declared, openssl=link
        )
    if mode == "zig":
        # cargo-zigbuild reads the glibc version from the target's suffix; it finds zig through
        # `python -m ziglang` (the ziglang wheel) when no zig is on PATH, so the virtualenv's
        # bin directory goes first on PATH.
        venv_bin = str(Path(sys.executable).parent)
        env["PATH"] = os.pathsep.join([venv_bin, env.get("PATH", "")])
        link = openssl_link(openssl, arch, env)
        env.update(link.env())
        target = f"{arch.rust_target}.{policy.glibc_str}"
        argv = ["cargo", "zigbuild", *_cargo_args(arch, target, flags, workspace.declared)]
        return CompilePlan(
            tuple(argv), env, workspace.root, release, binaries=workspace.declared, openssl=link
        )
    if mode == "docker":
        return _plan_docker(workspace, arch, flags, env, openssl)
    raise ConfigError(f"--mode {mode!r} is unknown: use one of {', '.join(MODES)}")


def _plan_docker(
    workspace: Workspace, arch: ArchPolicy, flags: list[str], env: dict[str, str], openssl: str
) -> CompilePlan:
    """Build inside Amazon Linux 2023 with a target dir and cargo home of its own.

    ``target/docker`` holds both, written as the calling user (``--user``), so files owned by
    root never land in the host's target/ or ~/.cargo.
    """
    docker_dir = workspace.target_dir / "docker"
    inside = ["--remap-path-prefix=/work/cargo=/cargo", "--remap-path-prefix=/work/app=/app"]
    platform = "linux/amd64" if arch.name == "x86_64" else "linux/arm64"
    build_image = (
        "docker",
        "build",
        "--platform",
        platform,
        "-t",
        DOCKER_IMAGE,
        "-f",
        str(DOCKERFILE),
        str(DOCKERFILE.parent),
    )
    argv = [
        "docker",
        "run",
        "--rm",
        "--platform",
        platform,
        "--user",
        f"{os.getuid()}:{os.getgid()}",
        "-v",
        f"{workspace.root}:/work/app:ro",
        "-v",
        f"{docker_dir}:/work/out",
        "-e",
        "CARGO_HOME=/work/out/cargo",
        "-e",
        "CARGO_TARGET_DIR=/work/out/target",
        # Amazon Linux's OpenSSL (openssl-devel; openssl-static for the archives), found by
        # openssl-sys in the container's own folders.
        "-e",
        f"OPENSSL_STATIC={'1' if openssl == 'static' else '0'}",
        "-w",
        "/work/app",
        DOCKER_IMAGE,
        "cargo",
        "build",
        *_cargo_args(arch, arch.rust_target, inside, workspace.declared),
    ]
    del flags  # the host paths do not exist inside the container
    release = docker_dir / "target" / arch.rust_target / "release"
    return CompilePlan(
        tuple(argv),
        env,
        workspace.root,
        release,
        prepare=(build_image,),
        binaries=workspace.declared,
    )


def compile_all(plan: CompilePlan) -> dict[str, Path]:
    """Run the plan; return binary name -> built file. CargoError with cargo's tail on failure."""
    if plan.argv[0] == "docker" and shutil.which("docker", path=plan.env.get("PATH")) is None:
        raise ConfigError(
            "--mode docker needs the docker CLI and a running engine, and this machine has "
            "neither; use --mode zig (targets the runtime's glibc without a container)"
        )
    if (
        plan.argv[:2] == ("cargo", "zigbuild")
        and shutil.which("cargo-zigbuild", path=plan.env.get("PATH")) is None
    ):
        raise ConfigError(
            "--mode zig needs cargo-zigbuild and ziglang; run `make setup` (both are in "
            "requirements.txt)"
        )
    if "RUSTFLAGS" in plan.env or "CARGO_ENCODED_RUSTFLAGS" in plan.env:
        log.warning(
            "RUSTFLAGS is set: it replaces the --remap-path-prefix flags, so the "
            "binaries may embed local paths and differ between machines"
        )
    for command in plan.prepare:
        run(command, cwd=plan.cwd, env=plan.env, capture=False)
    try:
        run(plan.argv, cwd=plan.cwd, env=plan.env, capture=False)
    except CommandError as exc:
        raise CargoError(f"compiling the workspace failed: {exc}") from exc
    built = {name: plan.artifact_dir / name for name in plan.binaries}
    missing = [str(path) for path in built.values() if not path.is_file()]
    if missing:
        raise CargoError(
            f"cargo succeeded but did not write {', '.join(missing)}; run `cargo clean` in app/ "
            "and build again"
        )
    return built
