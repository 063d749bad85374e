"""The harness itself, on a fixture runtime built from C (no dist/ needed).

``fixture/echo_bootstrap.c`` speaks the Runtime API and answers with what it saw, so these tests
check the root, the environment and the emulator wiring; each guard of the harness gets an input
that trips it, and a binary that needs a library the runtime does not provide must fail.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import subprocess
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from build.policy import Policy
from local.sandbox import (
    RIE_IN_ROOT,
    SANDBOX_UID,
    TASK_ROOT,
    Jail,
    RieFunction,
    SandboxError,
    build_root,
    child_pid,
    install_rie,
    lambda_environment,
    resolve_provided,
    unpack_zip,
)
from tests.runtime.services import DECLARED, FUNCTIONS, check_manifest

pytestmark = pytest.mark.rie
FIXTURE = Path(__file__).resolve().parent / "fixture"
NEEDS_LIBPQ_C = r"""
#include <stdio.h>
#include <libpq-fe.h>
int main(void) { printf("libpq %d\n", PQlibVersion()); return 0; }
"""


@pytest.fixture(scope="module")
def echo_bootstrap(gcc: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("echo") / "bootstrap"
    subprocess.run(
        [gcc, "-O2", "-Wall", "-Werror", "-o", str(out), str(FIXTURE / "echo_bootstrap.c")],
        check=True,
    )
    return out


def pack(path: Path, archive: Path, mode: int = 0o755) -> Path:
    """A zip holding ``path`` as ``bootstrap`` with ``mode``, the way build/ packs one."""
    info = zipfile.ZipInfo("bootstrap", date_time=(1980, 1, 1, 0, 0, 0))
    info.external_attr = (0o100000 | mode) << 16
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(info, path.read_bytes())
    return archive


@pytest.fixture
def echo_root(
    jail_tools: None,
    al2023: Policy,
    rie_binary: Path,
    echo_bootstrap: Path,
    tmp_path: Path,
) -> Callable[[int], Path]:
    """bootstrap mode -> a minimal root with the echo runtime unpacked from a zip."""

    def make(mode: int = 0o755) -> Path:
        root = tmp_path / f"root-{mode:o}"
        build_root(root, al2023)
        install_rie(rie_binary, root)
        unpack_zip(pack(echo_bootstrap, tmp_path / f"echo-{mode:o}.zip", mode), root / "var/task")
        return root

    return make


@pytest.fixture
def run_function(al2023: Policy, tmp_path: Path) -> Iterator[Callable[[Path], RieFunction]]:
    started: list[RieFunction] = []

    def run(root: Path) -> RieFunction:
        env = lambda_environment(al2023, function_name="echo", region="eu-west-1")
        fn = RieFunction(Jail(root, SANDBOX_UID, SANDBOX_UID), env, tmp_path / "rie.log")
        started.append(fn)
        return fn.start()

    yield run
    for fn in started:
        fn.stop()


def test_root_holds_only_what_the_policy_provides(al2023: Policy, tmp_path: Path) -> None:
    layout = build_root(tmp_path / "root", al2023)
    lib64 = tmp_path / "root" / "usr" / "lib64"
    assert sorted(p.name for p in lib64.iterdir()) == list(layout.libraries)
    assert set(layout.libraries) <= al2023.provided
    assert {"libc.so.6", "libgcc_s.so.1", "ld-linux-x86-64.so.2"} <= set(layout.libraries)
    assert (tmp_path / "root" / al2023.arch("x86_64").loader.lstrip("/")).is_file()
    everything = {p.name for p in (tmp_path / "root").rglob("*")}
    assert not any(name.startswith(("libpq", "libssl", "libcrypto")) for name in everything)
    assert not (tmp_path / "root" / "usr" / "lib" / "x86_64-linux-gnu").exists()


def test_environment_follows_lambda_and_the_policy(al2023: Policy) -> None:
    env = lambda_environment(
        al2023, function_name="f", region="eu-west-1", extra={"DB_HOST": "127.0.0.1"}
    )
    assert env["LD_LIBRARY_PATH"].split(":")[:2] == ["/lib64", "/usr/lib64"]
    assert env["LD_LIBRARY_PATH"].split(":")[-3:] == ["/var/task", "/var/task/lib", "/opt/lib"]
    assert "$" not in env["LD_LIBRARY_PATH"]
    assert env["LAMBDA_TASK_ROOT"] == TASK_ROOT
    assert (env["AWS_REGION"], env["AWS_DEFAULT_REGION"]) == ("eu-west-1", "eu-west-1")
    assert env["DB_HOST"] == "127.0.0.1"


def test_echo_runtime_runs_as_lambda_runs_it(
    echo_root: Callable[[int], Path], run_function: Callable[[Path], RieFunction]
) -> None:
    fn = run_function(echo_root(0o755))
    first = fn.invoke({"hello": "world"})
    assert first.status == 200, first.body
    seen = first.json()
    assert seen["event"] == {"hello": "world"}
    assert seen["uid"] == SANDBOX_UID
    assert seen["cwd"] == TASK_ROOT
    assert seen["LD_LIBRARY_PATH"].startswith("/lib64:/usr/lib64:")
    assert seen["AWS_LAMBDA_FUNCTION_NAME"] == "echo"
    assert seen["tmp_writable"] is True
    assert seen["task_writable"] is False, "/var/task must be read-only, as on Lambda"
    assert fn.init_duration_ms() is not None

    failed = fn.invoke({"please": "fail"})
    assert failed.is_function_error
    assert failed.json()["errorType"] == "EchoError"
    again = fn.invoke({"hello": "again"})
    assert again.json()["event"] == {"hello": "again"}


def test_the_runtime_process_is_found_below_the_emulator(
    echo_root: Callable[[int], Path], run_function: Callable[[Path], RieFunction]
) -> None:
    """`child_pid` of the emulator is the process running /var/task/bootstrap, whichever of the
    emulator's (Go) threads forked it: the kernel's own record, /proc/<pid>/exe, says so."""
    root = echo_root(0o755)
    fn = run_function(root)
    assert fn.invoke({"hello": "world"}).status == 200  # the runtime now runs
    rie = fn.pid
    assert rie is not None
    assert Path(f"/proc/{rie}/exe").resolve() == (root / RIE_IN_ROOT.lstrip("/")).resolve()
    runtime = child_pid(rie)
    assert runtime is not None
    assert Path(f"/proc/{runtime}/exe").resolve() == (root / "var/task/bootstrap").resolve()


def test_bootstrap_without_execute_bit_does_not_start(
    echo_root: Callable[[int], Path], run_function: Callable[[Path], RieFunction]
) -> None:
    """Modes come from the zip: a 0644 bootstrap fails as it would on Lambda."""
    fn = run_function(echo_root(0o644))
    result = fn.invoke({"hello": "world"})
    assert result.status != 200 or result.is_function_error, result.body
    assert "permission denied" in fn.log().lower()


def test_library_the_runtime_lacks_fails_to_load(
    gcc: str,
    jail_tools: None,
    al2023: Policy,
    rie_binary: Path,
    tmp_path: Path,
    run_function: Callable[[Path], RieFunction],
) -> None:
    """The root really is minimal: a binary linked against the host's libpq cannot start."""
    source = tmp_path / "needs_libpq.c"
    source.write_text(NEEDS_LIBPQ_C)
    binary = tmp_path / "needs_libpq"
    built = subprocess.run(
        [gcc, "-I/usr/include/postgresql", "-o", str(binary), str(source), "-lpq"],
        capture_output=True,
        text=True,
        check=False,
    )
    if built.returncode != 0:
        pytest.fail(f"cannot build the libpq fixture (install libpq-dev): {built.stderr}")
    assert subprocess.run([str(binary)], capture_output=True, check=False).returncode == 0
    root = tmp_path / "root"
    build_root(root, al2023)
    install_rie(rie_binary, root)
    unpack_zip(pack(binary, tmp_path / "needs_libpq.zip"), root / "var/task")
    fn = run_function(root)
    result = fn.invoke({"hello": "world"})
    assert result.status != 200 or result.is_function_error, result.body
    assert "libpq.so.5: cannot open shared object file" in fn.log()


# ---------------------------------------------------------------------------------------------
# Guards


def test_policy_library_missing_on_host_is_refused(al2023: Policy, tmp_path: Path) -> None:
    bogus = dataclasses.replace(al2023, provided=al2023.provided | {"libnotthere.so.9"})
    with pytest.raises(SandboxError, match=r"lists libnotthere\.so\.9 as provided"):
        resolve_provided(bogus, "x86_64")


def test_loader_missing_from_policy_is_refused(al2023: Policy, tmp_path: Path) -> None:
    no_loader = dataclasses.replace(al2023, provided=al2023.provided - {"ld-linux-x86-64.so.2"})
    with pytest.raises(SandboxError, match=r"the loader /lib64/ld-linux-x86-64\.so\.2"):
        build_root(tmp_path / "root", no_loader)


def test_zip_entry_outside_task_root_is_refused(tmp_path: Path) -> None:
    archive = tmp_path / "evil.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("../../etc/passwd", "root::0:0::/:/bin/sh\n")
    with pytest.raises(SandboxError, match="points outside the task root"):
        unpack_zip(archive, tmp_path / "task")
    assert not (tmp_path / "etc").exists()


def test_dynamically_linked_emulator_is_refused(echo_bootstrap: Path, tmp_path: Path) -> None:
    with pytest.raises(SandboxError, match="is dynamically linked"):
        install_rie(echo_bootstrap, tmp_path)
    with pytest.raises(SandboxError, match="run `make setup`"):
        install_rie(tmp_path / "absent", tmp_path)


def _fake_dist(tmp_path: Path) -> Path:
    dist = tmp_path / "dist"
    (dist / "server").mkdir(parents=True)
    (dist / "server" / "server").write_bytes(b"\x7fELF")
    functions = {}
    for name in FUNCTIONS:
        (dist / f"{name}.zip").write_bytes(name.encode())
        functions[name] = {
            "zip": f"{name}.zip",
            "sha256": hashlib.sha256(name.encode()).hexdigest(),
            "declaration": DECLARED[name].to_json(),
        }
    manifest = {
        "ca_bundle": {"path": "certs/rds-ca-bundle.pem"},
        "functions": functions,
        "server": {"dir": "server", "binary": "server/server"},
    }
    (dist / "manifest.json").write_text(json.dumps(manifest))
    return dist


def test_manifest_check_accepts_a_consistent_dist(tmp_path: Path) -> None:
    assert set(check_manifest(_fake_dist(tmp_path))["functions"]) == {
        "authorizer",
        "handler",
        "event",
        "timer",
        "migrate",
    }


@pytest.mark.parametrize(
    ("breakage", "message"),
    [
        ("no-manifest", "manifest.json is missing or unreadable"),
        ("no-function", "has no function 'timer'"),
        ("no-zip", "timer.zip listed in"),
        ("stale", "the build is stale"),
        ("no-server", "names no server binary"),
        ("no-ca-bundle", "records no ca_bundle"),
        ("declaration-changed", "records function timer as .* declares .*the build is stale"),
        ("no-declaration", "timer.*an older build"),
        ("undeclared-function", r"does not declare \(reporter\): the build is stale"),
    ],
)
def test_manifest_check_names_make_build(tmp_path: Path, breakage: str, message: str) -> None:
    dist = _fake_dist(tmp_path)
    manifest = json.loads((dist / "manifest.json").read_text())
    if breakage == "no-manifest":
        (dist / "manifest.json").unlink()
    elif breakage == "no-function":
        del manifest["functions"]["timer"]
    elif breakage == "no-zip":
        (dist / "timer.zip").unlink()
    elif breakage == "stale":
        (dist / "timer.zip").write_bytes(b"rebuilt")
    elif breakage == "no-server":
        (dist / "server" / "server").unlink()
    elif breakage == "no-ca-bundle":
        del manifest["ca_bundle"]
    elif breakage == "declaration-changed":
        # Cargo.toml edited after the build: the runtime tests would run the old settings.
        manifest["functions"]["timer"]["declaration"]["memory"] += 64
    elif breakage == "no-declaration":
        del manifest["functions"]["timer"]["declaration"]
    elif breakage == "undeclared-function":
        manifest["functions"]["reporter"] = dict(manifest["functions"]["timer"])
    if breakage not in ("no-manifest", "no-zip", "stale", "no-server"):
        (dist / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(SandboxError, match=message) as info:
        check_manifest(dist)
    assert "run `make build`" in str(info.value)
