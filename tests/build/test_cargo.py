from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from build.cargo import compile_all, discover, plan_compile
from build.errors import CargoError, ConfigError
from build.policy import load_policy
from tests.build.conftest import BINARIES, FUNCTIONS, SERVICE

AL2023 = load_policy("provided.al2023")
X86 = AL2023.arch("x86_64")

pytestmark = pytest.mark.skipif(shutil.which("cargo") is None, reason="cargo is not installed")


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory, rust_workspace):
    return discover(rust_workspace(tmp_path_factory.mktemp("ws")))


def test_discover(workspace):
    assert sorted(workspace.binaries) == sorted(BINARIES)
    assert set(workspace.binaries.values()) == {"mini"}
    assert workspace.target_dir == workspace.root / "target"
    # what is built is what the crates declare (cargo metadata's package.metadata)
    assert sorted(workspace.functions) == sorted(FUNCTIONS)
    assert workspace.service is not None and workspace.service.name == SERVICE
    assert workspace.declared == (*sorted(FUNCTIONS), SERVICE)


def test_discover_a_relative_path(workspace, monkeypatch):
    monkeypatch.chdir(workspace.root.parent)
    assert discover(Path(workspace.root.name)).root == workspace.root


def test_no_app_folder(tmp_path: Path):
    with pytest.raises(
        ConfigError, match=r"the Rust workspace .*/nope does not exist: .*--app DIR"
    ):
        discover(tmp_path / "nope")


def test_no_cargo_toml(tmp_path: Path):
    with pytest.raises(ConfigError, match=r"/Cargo.toml is missing: the build needs a Cargo "):
        discover(tmp_path)


def test_only_declared_binaries_are_built(tmp_path: Path, rust_workspace):
    root = rust_workspace(tmp_path / "ws", declared=("handler", "server"))
    workspace = discover(root)
    assert workspace.declared == ("handler", "server")
    plan = plan_compile(workspace, AL2023, X86, "host", environ={"HOME": "/h", "PATH": "/usr/bin"})
    assert [plan.argv[i + 1] for i, a in enumerate(plan.argv) if a == "--bin"] == [
        "handler",
        "server",
    ]


def test_a_bad_declaration_stops_before_compiling(tmp_path: Path, rust_workspace):
    root = rust_workspace(tmp_path / "ws", declared=("handler",))
    cargo_toml = root / "Cargo.toml"
    cargo_toml.write_text(cargo_toml.read_text().replace('trigger = "none"', 'trigger = "cron"'))
    with pytest.raises(
        ConfigError,
        match=r"\[package.metadata.rust-on-aws.bin.handler.function\] trigger: must be one of "
        r"api, api-authorizer, event-pattern, schedule, migration, none, got 'cron'",
    ):
        discover(root)
    assert not (root / "target" / "x86_64-unknown-linux-gnu").exists()


def test_nothing_declared(tmp_path: Path, rust_workspace):
    root = rust_workspace(tmp_path / "ws", declared=())
    with pytest.raises(ConfigError, match=r"no crate declares a function or the service"):
        discover(root)


def test_cargo_metadata_failing(tmp_path: Path):
    (tmp_path / "Cargo.toml").write_text("[package\n")
    with pytest.raises(CargoError, match=r"cargo metadata failed for .*Cargo.toml: .*exit status"):
        discover(tmp_path)


def test_host_plan_is_one_invocation_with_remapped_paths(workspace):
    env = {"HOME": "/home/u", "PATH": "/usr/bin"}
    plan = plan_compile(workspace, AL2023, X86, "host", environ=env)
    assert plan.argv[:6] == (
        "cargo",
        "build",
        "--release",
        "--locked",
        "--target",
        "x86_64-unknown-linux-gnu",
    )
    bins = [plan.argv[i + 1] for i, a in enumerate(plan.argv) if a == "--bin"]
    assert bins == list(BINARIES)
    config = plan.argv[-1]
    assert config.startswith("target.x86_64-unknown-linux-gnu.rustflags=[")
    assert '"--remap-path-prefix=/home/u/.cargo=/cargo"' in config
    # no checkout path in the flags: two worktrees share one target folder's dependencies
    assert str(workspace.root) not in config
    assert plan.artifact_dir == workspace.target_dir / "x86_64-unknown-linux-gnu" / "release"


def test_zig_plan_targets_the_runtime_glibc(workspace, tmp_path: Path):
    for name in ("libssl.a", "libcrypto.a"):  # an arm64 OpenSSL of one's own (not on this host)
        (tmp_path / name).write_bytes(b"!<arch>\n")
    env = {"PATH": "/x", "OPENSSL_LIB_DIR": str(tmp_path)}
    plan = plan_compile(workspace, AL2023, AL2023.arch("arm64"), "zig", environ=env)
    assert plan.env["OPENSSL_LIB_DIR"] == str(tmp_path)
    assert plan.env["OPENSSL_STATIC"] == "1"
    assert plan.openssl is not None and plan.openssl.lib_dir == tmp_path
    assert plan.argv[:2] == ("cargo", "zigbuild")
    assert "aarch64-unknown-linux-gnu.2.34" in plan.argv
    assert plan.env["PATH"].endswith(":/x")  # the virtualenv (ziglang) first
    assert plan.artifact_dir == workspace.target_dir / "aarch64-unknown-linux-gnu" / "release"


def test_docker_plan_has_its_own_target_and_cargo_home(workspace):
    plan = plan_compile(workspace, AL2023, X86, "docker", environ={"PATH": "/usr/bin"})
    argv = plan.argv
    assert argv[:3] == ("docker", "run", "--rm")
    assert f"{workspace.root}:/work/app:ro" in argv
    assert f"{workspace.target_dir / 'docker'}:/work/out" in argv
    assert "CARGO_TARGET_DIR=/work/out/target" in argv
    assert "CARGO_HOME=/work/out/cargo" in argv
    assert argv[argv.index("--user") + 1].count(":") == 1
    assert plan.prepare[0][:2] == ("docker", "build")
    assert plan.prepare[0][plan.prepare[0].index("-f") + 1].endswith("build/Dockerfile.al2023")


def test_docker_passes_the_openssl_choice_into_the_container(workspace):
    for choice, value in (("static", "1"), ("shared", "0")):
        plan = plan_compile(workspace, AL2023, X86, "docker", environ={}, openssl=choice)
        assert f"OPENSSL_STATIC={value}" in plan.argv
        assert plan.openssl is None  # the container's OpenSSL, nothing to record from here


def test_docker_without_an_engine(workspace):
    plan = plan_compile(workspace, AL2023, X86, "docker", environ={"PATH": "/nonexistent"})
    with pytest.raises(ConfigError, match=r"--mode docker needs the docker CLI .*use --mode zig"):
        compile_all(plan)


def test_host_mode_cannot_cross_compile(workspace):
    with pytest.raises(
        ConfigError,
        match=r"--mode host builds for this machine's architecture "
        r"\(x86_64\), not arm64; use --mode zig",
    ):
        plan_compile(workspace, AL2023, AL2023.arch("arm64"), "host")


def test_unknown_mode(workspace):
    with pytest.raises(ConfigError, match=r"--mode 'podman' is unknown: use one of host, zig"):
        plan_compile(workspace, AL2023, X86, "podman")


def test_cargo_failing_shows_the_tail_of_its_output(tmp_path: Path, rust_workspace):
    workspace = discover(rust_workspace(tmp_path / "ws", broken=True))
    plan = plan_compile(workspace, AL2023, X86, "host")
    with pytest.raises(
        CargoError,
        match=r"compiling the workspace failed: `cargo build .*` failed "
        r"with exit status 101: .*error",
    ):
        compile_all(plan)
