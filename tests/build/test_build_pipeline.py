"""``build_all`` and the CLI on the tiny fixture workspace (real cargo, seconds)."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest

from build.__main__ import main
from build.elf import read_elf, sha256_file
from build.errors import CertError, IncompatibleError, OutputError
from build.pipeline import Options, build_all
from build.policy import load_policy
from tests.build.conftest import FUNCTIONS

AL2023 = load_policy("provided.al2023")
CERTS = Path(__file__).resolve().parents[2] / "build" / "certs"
"""The committed bundle, read as bytes (the expected content of every artifact's copy)."""
X86 = AL2023.arch("x86_64")

pytestmark = pytest.mark.skipif(shutil.which("cargo") is None, reason="cargo is not installed")


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory, rust_workspace) -> Path:
    root = tmp_path_factory.mktemp("app")
    return rust_workspace(root / "ws")


@pytest.fixture
def env(monkeypatch, elf_fixtures, foo_link_dir):
    monkeypatch.setenv("FIXTURE_LIBDIR", str(foo_link_dir))
    monkeypatch.setenv("LD_LIBRARY_PATH", str(elf_fixtures.libdir))  # where the build finds it
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)


def _build(app: Path, dist: Path) -> dict:
    manifest, _ = build_all(Options(app=app, dist=dist, policy=AL2023, arch=X86), lambda _: None)
    return manifest


def test_build_all_writes_zips_server_and_manifest(app, env, tmp_path: Path, elf_fixtures):
    dist = tmp_path / "dist"
    manifest = _build(app, dist)
    assert json.loads((dist / "manifest.json").read_text()) == manifest
    assert manifest["version"] == 1
    assert manifest["runtime"] == "provided.al2023"
    assert manifest["glibc_max"] == "2.34"
    assert list(manifest["functions"]) == sorted(FUNCTIONS)  # what the crates declare
    for name in FUNCTIONS:
        assert manifest["functions"][name]["declaration"]["trigger"] == "none"
    assert manifest["server"]["declaration"] == {"bin": "server", "port": 8080}
    bundle = (CERTS / "rds-ca-bundle.pem").read_bytes()
    provenance = json.loads((CERTS / "rds-ca-bundle.json").read_text())
    assert manifest["ca_bundle"] == {
        "path": "certs/rds-ca-bundle.pem",
        "sha256": hashlib.sha256(bundle).hexdigest(),
        "count": bundle.count(b"-----BEGIN CERTIFICATE-----"),
        "origin": provenance["origin"],
    }
    for name, entry in manifest["functions"].items():
        zip_path = dist / entry["zip"]
        assert entry["sha256"] == sha256_file(zip_path)
        assert entry["size"] == zip_path.stat().st_size
        assert entry["architecture"] == "x86_64"
        assert entry["source"]["ca_bundle_sha256"] == hashlib.sha256(bundle).hexdigest()
        with zipfile.ZipFile(zip_path) as z:
            assert z.namelist()[0] == "bootstrap"
            assert entry["unzipped_size"] == sum(i.file_size for i in z.infolist())
            cert = z.getinfo("certs/rds-ca-bundle.pem")
            assert (cert.external_attr >> 16) & 0o777 == 0o644
            assert z.read(cert) == bundle
        assert entry["bundled"] == [] if name != "handler" else len(entry["bundled"]) == 2
    bundled = {b["soname"]: b for b in manifest["functions"]["handler"]["bundled"]}
    foo = bundled["libfoo.so.1"]
    assert foo["original"] == str(elf_fixtures.libdir / "libfoo.so.1")
    assert foo["sha256"] == sha256_file(elf_fixtures.libdir / "libfoo.so.1")
    assert foo["name"] == f"libfoo-{foo['sha256'][:8]}.so.1"
    assert foo["package"] is None  # not from a Debian package
    server = manifest["server"]
    assert server["binary"] == "server/server"
    assert (dist / "server" / "server").stat().st_mode & 0o777 == 0o755
    shipped = dist / "server" / "certs" / "rds-ca-bundle.pem"
    assert (shipped.read_bytes(), shipped.stat().st_mode & 0o777) == (bundle, 0o644)
    assert not list((dist).glob(".build-*"))  # staging removed


def test_bundled_handler_runs_from_its_zip(app, env, tmp_path: Path, elf_fixtures):
    dist = tmp_path / "dist"
    _build(app, dist)
    task = tmp_path / "task"
    with zipfile.ZipFile(dist / "handler.zip") as z:
        z.extractall(task)
    (task / "bootstrap").chmod(0o755)
    # Lambda's LD_LIBRARY_PATH puts system dirs first; here an impostor libfoo sits there.
    env_vars = {"LD_LIBRARY_PATH": f"{elf_fixtures.impostor}:/lib64:/usr/lib64"}
    out = subprocess.run(
        [task / "bootstrap"], env=env_vars, capture_output=True, text=True, check=True
    )
    assert out.stdout == "11\n"
    assert read_elf(task / "bootstrap").rpath == ("$ORIGIN/lib",)


def test_two_builds_are_byte_identical(app, env, tmp_path: Path):
    first = _build(app, tmp_path / "one")
    second = _build(app, tmp_path / "two")
    assert first == second
    for entry in first["functions"].values():
        assert (tmp_path / "one" / entry["zip"]).read_bytes() == (
            tmp_path / "two" / entry["zip"]
        ).read_bytes()


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        ("remove_pem", r"the RDS CA bundle .*/rds-ca-bundle.pem cannot be read \(No such file"),
        ("remove_json", r"the RDS CA bundle's provenance .*rds-ca-bundle.json is missing or not"),
        ("edit_pem", r"rds-ca-bundle.pem has sha256 [0-9a-f]{12}\.\.\., its provenance "),
        ("bad_count", r"rds-ca-bundle.pem holds 115 certificates, its provenance says 114; run "),
        (
            "no_origin",
            r"rds-ca-bundle.json: origin lacks integrity; run `python scripts/update-rds",
        ),
    ],
)
def test_a_bad_ca_bundle_stops_the_build_before_compiling(
    app, env, tmp_path: Path, monkeypatch, edit: str, message: str
):
    certs = tmp_path / "certs"
    shutil.copytree(CERTS, certs)
    meta = json.loads((certs / "rds-ca-bundle.json").read_text())
    if edit == "remove_pem":
        (certs / "rds-ca-bundle.pem").unlink()
    elif edit == "remove_json":
        (certs / "rds-ca-bundle.json").unlink()
    elif edit == "edit_pem":
        (certs / "rds-ca-bundle.pem").write_bytes(
            CERTS.joinpath("rds-ca-bundle.pem").read_bytes() + b"\n"
        )
    elif edit == "bad_count":
        meta["count"] = 114
    else:
        del meta["origin"]["integrity"]
    if edit in ("bad_count", "no_origin"):
        (certs / "rds-ca-bundle.json").write_text(json.dumps(meta))
    monkeypatch.setattr("build.cargo.discover", lambda *_: pytest.fail("compiled anyway"))
    options = Options(app=app, dist=tmp_path / "d", policy=AL2023, arch=X86, certs=certs)
    with pytest.raises(CertError, match=message) as info:
        build_all(options, lambda _: None)
    assert str(info.value).endswith(
        "run `python scripts/update-rds-ca.py` (needs npm) and commit build/certs/"
    )


def test_failed_build_leaves_the_previous_dist_untouched(app, env, tmp_path: Path, monkeypatch):
    dist = tmp_path / "dist"
    _build(app, dist)
    before = {p: p.read_bytes() for p in dist.rglob("*") if p.is_file()}
    monkeypatch.setenv("LD_LIBRARY_PATH", "")  # libfoo can no longer be found: handler fails
    with pytest.raises(Exception, match=r"libfoo.so.1 \(DT_NEEDED of .*handler\) cannot be found"):
        _build(app, dist)
    after = {p: p.read_bytes() for p in dist.rglob("*") if p.is_file()}
    assert after == before


def test_incompatible_binary_fails_the_build(app, env, tmp_path: Path, monkeypatch):
    al2 = load_policy("provided.al2")
    with pytest.raises(
        IncompatibleError,
        match=r"needs .*@GLIBC_2\.\d+ from libc.so.6 but "
        r"provided.al2 has GLIBC 2.26",
    ):
        build_all(
            Options(app=app, dist=tmp_path / "d", policy=al2, arch=al2.arch("x86_64")),
            lambda _: None,
        )


def test_unwritable_dist(app, env, tmp_path: Path):
    blocker = tmp_path / "dist"
    blocker.write_text("a file where the folder should be")
    with pytest.raises(
        OutputError,
        match=r"the output folder .*/dist cannot be written .*pass "
        r"--dist DIR",
    ):
        _build(app, blocker)


def test_cli_all_and_audit_of_each_zip(app, env, tmp_path: Path, capsys):
    dist = tmp_path / "dist"
    assert main(["all", "--app", str(app), "--dist", str(dist)]) == 0
    out = capsys.readouterr().out
    assert "handler.zip" in out and "bundled libs" in out
    zips = sorted(str(p) for p in dist.glob("*.zip"))
    assert len(zips) == 5
    os.environ.pop("LD_LIBRARY_PATH")  # a zip is audited on its own contents only
    assert main(["audit", *zips, str(dist / "server")]) == 0
    out = capsys.readouterr().out
    assert out.count(": compatible") == 6
    assert "bundled:  libfoo-" in out


def test_cli_audit_exit_codes(elf_fixtures, tmp_path: Path, capsys):
    assert main(["audit", str(elf_fixtures.hello)]) == 0
    assert main(["audit", str(elf_fixtures.newglibc)]) == 1
    out = capsys.readouterr().out
    assert "problem:  newglibc needs arc4random@GLIBC_2.36 from libc.so.6" in out
    script = tmp_path / "bootstrap"
    script.write_text("#!/bin/sh\n")
    assert main(["audit", str(script)]) == 1
    assert "is not an ELF file" in capsys.readouterr().out
    assert main(["audit", "--runtime", "provided.al1", str(script)]) == 2
    assert capsys.readouterr().err.startswith("error: runtime 'provided.al1' is unknown")


def test_cli_audit_of_a_zip_missing_a_library(elf_fixtures, tmp_path: Path, capsys):
    # The unbundled program in a zip: libfoo is not in it, and Lambda would not have it.
    with zipfile.ZipFile(tmp_path / "f.zip", "w") as z:
        z.write(elf_fixtures.prog, "bootstrap")
    assert main(["audit", str(tmp_path / "f.zip")]) == 1
    assert "libfoo.so.1 (needed by bootstrap) is found only at " in capsys.readouterr().out


def test_cli_error_is_one_line(tmp_path: Path, capsys):
    assert main(["all", "--app", str(tmp_path / "none"), "--dist", str(tmp_path / "d")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith("error: the Rust workspace ")
