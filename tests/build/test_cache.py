"""Reusing the previous build's artifacts (build/cache.py) on the tiny fixture workspace."""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import zipfile
from pathlib import Path

import pytest

from build import cache
from build.__main__ import main
from build.certs import CERTS_DIR, PEM_NAME, PROVENANCE_NAME
from build.pipeline import Options, Row, build_all
from build.policy import POLICY_DIR, Policy, load_policy
from tests.build.conftest import BINARIES

AL2023 = load_policy("provided.al2023")
X86 = AL2023.arch("x86_64")
ARTIFACTS = BINARIES
"""The tiny workspace's binaries (conftest.py declares them): every artifact of its build."""

pytestmark = pytest.mark.skipif(shutil.which("cargo") is None, reason="cargo is not installed")


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory, rust_workspace) -> Path:
    return rust_workspace(tmp_path_factory.mktemp("cache-app") / "ws")


@pytest.fixture
def libdir(tmp_path: Path, elf_fixtures) -> Path:
    """A copy of the fixture libraries that a test may change."""
    copy = tmp_path / "libs"
    shutil.copytree(elf_fixtures.libdir, copy)
    return copy


@pytest.fixture
def env(monkeypatch, libdir: Path, foo_link_dir):
    monkeypatch.setenv("FIXTURE_LIBDIR", str(foo_link_dir))
    monkeypatch.setenv("LD_LIBRARY_PATH", str(libdir))  # handler bundles libfoo + libbar from here
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)


def _build(
    app: Path, dist: Path, *, policy: Policy = AL2023, use_cache: bool = True
) -> tuple[dict, dict[str, bool]]:
    options = Options(
        app=app, dist=dist, policy=policy, arch=policy.arch("x86_64"), cache=use_cache
    )
    manifest, rows = build_all(options, lambda _: None)
    return manifest, _reused(rows)


def _reused(rows: list[Row]) -> dict[str, bool]:
    return {row.name: row.reused for row in rows}


def _snapshot(dist: Path) -> dict[str, bytes]:
    return {p.relative_to(dist).as_posix(): p.read_bytes() for p in dist.rglob("*") if p.is_file()}


def _only(*names: str) -> dict[str, bool]:
    """The expected row flags: every artifact reused except ``names``."""
    return {name: name not in names for name in ARTIFACTS}


@pytest.fixture
def built(app: Path, env, tmp_path: Path) -> tuple[Path, dict[str, bytes]]:
    """A first build in ``tmp_path/dist`` (nothing to reuse) and its files."""
    dist = tmp_path / "dist"
    manifest, reused = _build(app, dist)
    assert reused == dict.fromkeys(ARTIFACTS, False)
    assert manifest["functions"]["handler"]["source"]["binary_sha256"]
    return dist, _snapshot(dist)


def test_noop_build_reuses_everything_byte_for_byte(app, built, caplog):
    dist, before = built
    with caplog.at_level(logging.INFO, logger="build"):
        manifest, reused = _build(app, dist)
    assert reused == dict.fromkeys(ARTIFACTS, True)
    assert _snapshot(dist) == before
    assert json.loads(before["manifest.json"]) == manifest
    assert "cache: reused handler.zip" in caplog.text
    assert not list(dist.glob(".build-*"))


def test_no_cache_rebuilds_everything_to_the_same_bytes(app, built):
    dist, before = built
    _, reused = _build(app, dist, use_cache=False)
    assert reused == dict.fromkeys(ARTIFACTS, False)
    assert _snapshot(dist) == before


def test_cli_no_cache_flag_and_reused_column(app, built, capsys):
    dist, before = built
    assert main(["all", "--app", str(app), "--dist", str(dist)]) == 0
    captured = capsys.readouterr()
    assert captured.out.count("reused") == len(ARTIFACTS)
    assert "==> handler: reused (" in captured.err
    assert main(["all", "--no-cache", "--app", str(app), "--dist", str(dist)]) == 0
    captured = capsys.readouterr()
    assert "reused" not in captured.out
    assert captured.out.count("built") == len(ARTIFACTS)
    assert "==> handler: audit, bundle, zip (" in captured.err
    assert _snapshot(dist) == before


def test_changed_binary_rebuilds_only_that_artifact(rust_workspace, env, tmp_path: Path, caplog):
    app = rust_workspace(tmp_path / "ws")
    dist = tmp_path / "dist"
    _build(app, dist)
    before = _snapshot(dist)
    (app / "src" / "bin" / "timer.rs").write_text('fn main() { println!("timer v2"); }\n')
    with caplog.at_level(logging.INFO, logger="build"):
        _, reused = _build(app, dist)
    assert reused == _only("timer")
    assert "cache: rebuilding timer: binary_sha256 changed" in caplog.text
    after = _snapshot(dist)
    assert after["timer.zip"] != before["timer.zip"]
    assert {k: v for k, v in after.items() if k not in ("timer.zip", "manifest.json")} == {
        k: v for k, v in before.items() if k not in ("timer.zip", "manifest.json")
    }


def test_changed_bundled_library_rebuilds_only_its_users(app, built, libdir: Path, caplog):
    dist, before = built
    with (libdir / "libbar.so.1").open("ab") as f:
        f.write(b"\0")  # trailing bytes: still a valid ELF, another sha256
    with caplog.at_level(logging.INFO, logger="build"):
        manifest, reused = _build(app, dist)
    assert reused == _only("handler")
    assert f"the bundled library {libdir / 'libbar.so.1'} changed" in caplog.text
    after = _snapshot(dist)
    assert after["handler.zip"] != before["handler.zip"]
    names = [b["name"] for b in manifest["functions"]["handler"]["bundled"]]
    assert any(name.startswith("libbar-") for name in names)
    assert (
        manifest["functions"]["handler"]["bundled"]
        != json.loads(before["manifest.json"])["functions"]["handler"]["bundled"]
    )


def test_missing_bundled_library_is_not_reused(app, built, libdir: Path, elf_fixtures, caplog):
    dist, _ = built
    (libdir / "libbar.so.1").unlink()
    with caplog.at_level(logging.INFO, logger="build"):
        manifest, reused = _build(app, dist)
    assert reused == _only("handler")
    assert f"the bundled library {libdir / 'libbar.so.1'} is gone" in caplog.text
    # Resolved again: libfoo's RUNPATH now finds the fixture's own libbar.
    originals = {b["soname"]: b["original"] for b in manifest["functions"]["handler"]["bundled"]}
    assert originals["libbar.so.1"] == str(elf_fixtures.libdir / "libbar.so.1")


def test_changed_policy_rebuilds_everything(app, built, tmp_path: Path, caplog):
    dist, before = built
    policies = tmp_path / "policies"
    policies.mkdir()
    text = (POLICY_DIR / "provided.al2023.json").read_text()
    (policies / "provided.al2023.json").write_text(text + "\n")  # same policy, other bytes
    policy = load_policy("provided.al2023", policies)
    with caplog.at_level(logging.INFO, logger="build"):
        _, reused = _build(app, dist, policy=policy)
    assert reused == dict.fromkeys(ARTIFACTS, False)
    assert "cache: rebuilding handler: policy_sha256 changed" in caplog.text
    after = _snapshot(dist)
    assert {k: v for k, v in after.items() if k != "manifest.json"} == {
        k: v for k, v in before.items() if k != "manifest.json"
    }


def test_changed_ca_bundle_rebuilds_everything_and_ships(app, built, tmp_path: Path, caplog):
    """A new RDS CA bundle (build/certs) is in every artifact's source: all are rebuilt."""
    dist, before = built
    certs = tmp_path / "certs"
    shutil.copytree(CERTS_DIR, certs)
    pem = (certs / PEM_NAME).read_bytes()
    first_two = b"-----BEGIN CERTIFICATE-----".join(pem.split(b"-----BEGIN CERTIFICATE-----")[:3])
    (certs / PEM_NAME).write_bytes(first_two)
    meta = json.loads((certs / PROVENANCE_NAME).read_text())
    meta.update(sha256=hashlib.sha256(first_two).hexdigest(), count=2)
    (certs / PROVENANCE_NAME).write_text(json.dumps(meta))
    options = Options(app=app, dist=dist, policy=AL2023, arch=X86, certs=certs)
    with caplog.at_level(logging.INFO, logger="build"):
        manifest, rows = build_all(options, lambda _: None)
    assert _reused(rows) == dict.fromkeys(ARTIFACTS, False)
    assert "cache: rebuilding handler: ca_bundle_sha256 changed" in caplog.text
    assert manifest["ca_bundle"]["count"] == 2
    with zipfile.ZipFile(dist / "timer.zip") as z:
        assert z.read("certs/rds-ca-bundle.pem") == first_two
    assert (dist / "server" / "certs" / "rds-ca-bundle.pem").read_bytes() == first_two
    assert _snapshot(dist)["timer.zip"] != before["timer.zip"]


def test_changed_builder_rebuilds_everything(app, built, monkeypatch, caplog):
    dist, _ = built
    monkeypatch.setattr(cache, "builder_fingerprint", lambda: "another build/ version")
    with caplog.at_level(logging.INFO, logger="build"):
        _, reused = _build(app, dist)
    assert reused == dict.fromkeys(ARTIFACTS, False)
    assert "cache: rebuilding server: builder changed" in caplog.text


def test_fingerprint_covers_build_code_and_policies(tmp_path: Path):
    copy = tmp_path / "build"
    shutil.copytree(cache.BUILD_DIR, copy, ignore=shutil.ignore_patterns("__pycache__"))
    first = cache.fingerprint_of(copy)
    assert cache.fingerprint_of(copy) == first
    (copy / "archive.py").write_text((copy / "archive.py").read_text() + "# changed\n")
    second = cache.fingerprint_of(copy)
    assert second != first
    policy = copy / "policies" / "provided.al2.json"
    policy.write_text(policy.read_text() + "\n")
    assert cache.fingerprint_of(copy) not in (first, second)


@pytest.mark.parametrize(
    ("artifact", "path"), [("event", "event.zip"), ("server", "server/server")]
)
def test_tampered_previous_artifact_is_rebuilt(app, built, caplog, artifact: str, path: str):
    dist, before = built
    target = dist / path
    target.write_bytes(target.read_bytes() + b"tampered")
    with caplog.at_level(logging.INFO, logger="build"):
        _, reused = _build(app, dist)
    assert reused == _only(artifact)
    assert "differs from its manifest sha256" in caplog.text
    assert _snapshot(dist) == before  # rebuilt to the recorded bytes


def test_missing_previous_zip_is_rebuilt(app, built):
    dist, before = built
    (dist / "authorizer.zip").unlink()
    _, reused = _build(app, dist)
    assert reused == _only("authorizer")
    assert _snapshot(dist) == before


def test_other_zip_epoch_or_search_path_rebuilds(app, built, monkeypatch, elf_fixtures):
    dist, _ = built
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    _, reused = _build(app, dist)
    assert reused == _only(*ARTIFACTS[:-1])  # the server is no zip
    monkeypatch.setenv("LD_LIBRARY_PATH", str(elf_fixtures.libdir))
    _, reused = _build(app, dist)
    assert reused == dict.fromkeys(ARTIFACTS, False)


def test_unusable_previous_manifest_rebuilds_everything(app, built):
    dist, before = built
    manifest = json.loads(before["manifest.json"])
    manifest["functions"]["timer"]["unzipped_size"] = "big"
    del manifest["functions"]["event"]["source"]
    (dist / "manifest.json").write_text(json.dumps(manifest))
    _, reused = _build(app, dist)
    assert reused == _only("timer", "event")
    assert _snapshot(dist) == before
    (dist / "manifest.json").write_text("{not json")
    _, reused = _build(app, dist)
    assert reused == dict.fromkeys(ARTIFACTS, False)
    assert _snapshot(dist) == before
