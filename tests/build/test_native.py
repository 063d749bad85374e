"""build/native.py: how OpenSSL is linked, and the manifest's ``static`` list read from bytes.

The truths: Debian's own files (libcrypto.so.3 carries OpenSSL's version text, libpq.so.5
libpq's connection options; dpkg-query gives the package versions), and binaries that hold
neither (/bin/true).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from build.__main__ import main
from build.errors import BundleError, ConfigError
from build.native import OpenSSLLink, StaticLibrary, candidates, linked_into, openssl_link
from build.policy import load_policy

AL2023 = load_policy("provided.al2023")
X86, ARM = AL2023.arch("x86_64"), AL2023.arch("arm64")
MULTIARCH = Path("/usr/lib/x86_64-linux-gnu")


def dpkg_version(package: str) -> str:
    if shutil.which("dpkg-query") is None:
        pytest.skip("no dpkg-query: not a Debian machine")
    return subprocess.run(
        ["dpkg-query", "-W", "-f=${Version}", package], capture_output=True, text=True, check=True
    ).stdout


def fake_root(tmp_path: Path, multiarch: str, *names: str) -> Path:
    lib = tmp_path / "usr" / "lib" / multiarch
    lib.mkdir(parents=True)
    for name in names:
        (lib / name).write_bytes(b"!<arch>\n")
    return tmp_path


def test_static_takes_debians_archives_of_the_target_architecture(tmp_path: Path) -> None:
    root = fake_root(tmp_path, "x86_64-linux-gnu", "libssl.a", "libcrypto.a")
    link = openssl_link("static", X86, {}, root=root)
    assert link.env() == {
        "OPENSSL_STATIC": "1",
        "OPENSSL_LIB_DIR": str(root / "usr/lib/x86_64-linux-gnu"),
        "OPENSSL_INCLUDE_DIR": str(root / "usr/include"),
        "OPENSSL_NO_VENDOR": "1",
    }


@pytest.mark.parametrize(
    ("arch", "present", "missing", "package"),
    [
        (X86, ("libcrypto.a",), "libssl.a", "libssl-dev"),
        (X86, ("libssl.a",), "libcrypto.a", "libssl-dev"),
        (ARM, (), "libssl.a", "libssl-dev:arm64"),
    ],
    ids=["no-libssl", "no-libcrypto", "arm64-without-its-dev-package"],
)
def test_static_without_the_archives_is_one_line_naming_the_package(
    tmp_path: Path, arch, present: tuple[str, ...], missing: str, package: str
) -> None:
    root = fake_root(tmp_path, arch.host_multiarch, *present)
    with pytest.raises(ConfigError) as caught:
        openssl_link("static", arch, {}, root=root)
    message = str(caught.value)
    assert "\n" not in message
    assert f"{root / 'usr/lib' / arch.host_multiarch / missing} does not exist" in message
    assert f"install {package} (apt-get install {package})" in message
    assert "or build with --openssl shared" in message


def test_shared_needs_no_archives_and_says_so_to_openssl_sys(tmp_path: Path) -> None:
    link = openssl_link("shared", X86, {}, root=fake_root(tmp_path, "x86_64-linux-gnu"))
    assert link.env()["OPENSSL_STATIC"] == "0"


def test_an_openssl_of_ones_own_wins(tmp_path: Path) -> None:
    own = fake_root(tmp_path / "own", "x", "libssl.a", "libcrypto.a") / "usr/lib/x"
    env = {"OPENSSL_LIB_DIR": str(own), "OPENSSL_INCLUDE_DIR": "/opt/ssl/include"}
    link = openssl_link("static", ARM, env, root=tmp_path / "empty")
    assert (link.lib_dir, link.include_dir) == (own, Path("/opt/ssl/include"))


def test_an_unknown_choice_is_refused() -> None:
    with pytest.raises(
        ConfigError, match=r"^--openssl 'dynamic' is unknown: use static .* or shared"
    ):
        openssl_link("dynamic", X86, {})


def test_the_cli_refuses_an_unknown_choice_before_compiling(tmp_path: Path, capsys) -> None:
    status = main(["all", "--openssl", "dynamic", "--app", "app", "--dist", str(tmp_path / "d")])
    assert status == 2
    assert "--openssl 'dynamic' is unknown" in capsys.readouterr().err
    assert not (tmp_path / "d").exists()


def test_candidates_read_pq_src_from_cargo_lock_and_openssl_from_dpkg(tmp_path: Path) -> None:
    (tmp_path / "Cargo.lock").write_text(
        'version = 4\n[[package]]\nname = "pq-src"\nversion = "0.3.14+libpq-18.6"\n'
    )
    link = OpenSSLLink("static", MULTIARCH, Path("/usr/include"))
    found = {lib.name: lib for lib in candidates(tmp_path, link)}
    assert found["libpq"] == StaticLibrary(
        "libpq", "18.6", "crates.io pq-src 0.3.14+libpq-18.6", "pq-src"
    )
    if (MULTIARCH / "libssl.a").is_file():
        assert found["openssl"].origin == f"debian libssl-dev {dpkg_version('libssl-dev')}"
    shared = OpenSSLLink("shared", MULTIARCH, Path("/usr/include"))
    assert [lib.name for lib in candidates(tmp_path, shared)] == ["libpq"]
    (tmp_path / "Cargo.lock").write_text('version = 4\n[[package]]\nname = "diesel"\n')
    assert [lib.name for lib in candidates(tmp_path, None)] == []


LIBPQ = StaticLibrary("libpq", "18.6", "crates.io pq-src 0.3.14+libpq-18.6", "pq-src")
OPENSSL = StaticLibrary("openssl", "", "debian libssl-dev x", "/usr/lib/x86_64-linux-gnu")


def test_openssl_is_recorded_with_the_version_its_own_bytes_carry() -> None:
    libcrypto = MULTIARCH / "libcrypto.so.3"
    if not libcrypto.is_file():
        pytest.skip("no Debian libcrypto.so.3 here")
    [entry] = linked_into(libcrypto, (OPENSSL,))
    assert entry["version"] == dpkg_version("libssl3").split("-", 1)[0]


def test_libpq_is_recorded_when_its_connection_options_are_in_the_bytes() -> None:
    libpq = MULTIARCH / "libpq.so.5"
    if not libpq.is_file():
        pytest.skip("no Debian libpq.so.5 here (libpq5)")
    assert linked_into(libpq.resolve(), (LIBPQ,)) == [LIBPQ.to_json()]


def test_nothing_is_recorded_for_a_binary_without_either() -> None:
    assert linked_into(Path("/bin/true").resolve(), (LIBPQ, OPENSSL)) == []


def test_a_static_openssl_is_recorded_when_the_packages_version_is_in_its_bytes(
    tmp_path: Path,
) -> None:
    """Static and stripped, OpenSSL keeps its providers' names and version string only."""
    binary = tmp_path / "bin"
    binary.write_bytes(b"\x7fELF..OpenSSL Default Provider\x00..\x003.0.19\x00..")
    assert linked_into(binary, (StaticLibrary("openssl", "3.0.19", "o", "s"),))[0]["version"] == (
        "3.0.19"
    )


def test_an_openssl_whose_version_is_not_the_packages_is_an_error(tmp_path: Path) -> None:
    binary = tmp_path / "bin"
    binary.write_bytes(b"\x7fELF..OpenSSL Default Provider\x00..\x003.5.1\x00..")
    with pytest.raises(
        BundleError,
        match=r"neither its version text nor the package's version "
        r"3\.0\.19 is in its bytes: .*reinstall libssl-dev",
    ):
        linked_into(binary, (StaticLibrary("openssl", "3.0.19", "o", "s"),))
