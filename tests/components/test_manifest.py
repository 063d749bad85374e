"""components/manifest.py: each refusal names `make build`; a good manifest reads whole."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from components.manifest import ManifestError, manifest_path, read_manifest

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


@pytest.fixture
def dist(tmp_path: Path) -> Path:
    shutil.copytree(FIXTURES, tmp_path / "dist", ignore=shutil.ignore_patterns("*.py"))
    return tmp_path / "dist"


def edit(dist: Path, change) -> Path:
    path = dist / "manifest.json"
    doc = json.loads(path.read_text())
    change(doc)
    path.write_text(json.dumps(doc))
    return path


def read(path: Path, runtime: str = "provided.al2023", architecture: str = "x86_64"):
    return read_manifest(path, runtime=runtime, architecture=architecture)


def test_fixture_manifest_reads(dist: Path) -> None:
    manifest = read(dist / "manifest.json")
    assert sorted(manifest.functions) == ["authorizer", "event", "handler", "migrate", "timer"]
    assert manifest.ca_bundle_path == "certs/rds-ca-bundle.pem"
    handler = manifest.functions["handler"]
    assert handler.zip_path == dist / "handler.zip"
    assert handler.architecture == "x86_64"
    assert manifest.server.dir == dist / "server"
    assert len(manifest.server.sha256) == 64


def test_missing_manifest(tmp_path: Path) -> None:
    path = tmp_path / "manifest.json"
    with pytest.raises(ManifestError) as info:
        read(path)
    assert str(info.value) == (
        f"artifact manifest {path} not found; run `make build` to compile the Lambdas"
    )


def test_not_json(dist: Path) -> None:
    (dist / "manifest.json").write_text("{")
    with pytest.raises(ManifestError, match=r"is not JSON .*; run `make build`$"):
        read(dist / "manifest.json")


def test_wrong_version(dist: Path) -> None:
    path = edit(dist, lambda d: d.update(version=2))
    with pytest.raises(ManifestError) as info:
        read(path)
    assert (
        str(info.value) == f"artifact manifest {path}: version must be 1, got 2; run `make build`"
    )


def test_runtime_mismatch(dist: Path) -> None:
    path = dist / "manifest.json"
    with pytest.raises(ManifestError) as info:
        read(path, runtime="provided.al2")
    assert str(info.value) == (
        f"artifact manifest {path}: runtime 'provided.al2023' differs from the stack's "
        "lambdaRuntime 'provided.al2'; run `make build` for provided.al2 or set lambdaRuntime"
    )


def test_architecture_mismatch(dist: Path) -> None:
    path = dist / "manifest.json"
    with pytest.raises(ManifestError) as info:
        read(path, architecture="arm64")
    assert str(info.value) == (
        f"artifact manifest {path}: architecture 'x86_64' differs from the stack's "
        "architecture 'arm64'; run `make build` for arm64 or set architecture"
    )


def test_function_architecture_mismatch(dist: Path) -> None:
    path = edit(dist, lambda d: d["functions"]["timer"].update(architecture="arm64"))
    with pytest.raises(ManifestError, match=r"functions\.timer\.architecture 'arm64' differs"):
        read(path)


def test_the_functions_are_the_manifests(dist: Path) -> None:
    """No list of names: a manifest without `event` (its crate removed) plans without it."""
    path = edit(dist, lambda d: d["functions"].pop("event"))
    assert sorted(read(path).functions) == ["authorizer", "handler", "migrate", "timer"]


def test_a_function_without_its_declaration(dist: Path) -> None:
    path = edit(dist, lambda d: d["functions"]["event"].pop("declaration"))
    with pytest.raises(ManifestError) as info:
        read(path)
    assert str(info.value) == (
        f"{path} functions.event.declaration: must be a table, got None; fix: see "
        "docs/adopting.md; run `make build` to record the crates' declarations"
    )


def test_a_bad_recorded_declaration(dist: Path) -> None:
    path = edit(dist, lambda d: d["functions"]["timer"]["declaration"].update(trigger="cron"))
    with pytest.raises(ManifestError, match=r"functions.timer.declaration trigger: must be one of"):
        read(path)


def test_declarations_that_break_the_rules_between_them(dist: Path) -> None:
    """Functions that use the database with no migration function: nobody creates their role."""
    path = edit(dist, lambda d: d["functions"].pop("migrate"))
    with pytest.raises(ManifestError) as info:
        read(path)
    assert str(info.value) == (
        f"artifact manifest {path}: functions authorizer, event, handler, timer use the "
        "database, but no function has trigger migration, got none; fix: declare the migrate "
        "function (it creates the runtime role whose secret they read); fix the crates' "
        "declarations, then run `make build`"
    )


def test_missing_zip(dist: Path) -> None:
    (dist / "handler.zip").unlink()
    with pytest.raises(ManifestError) as info:
        read(dist / "manifest.json")
    assert str(info.value) == f"handler zip {dist / 'handler.zip'} not found; run `make build`"


def test_stale_zip(dist: Path) -> None:
    (dist / "authorizer.zip").write_bytes(b"rebuilt by hand")
    with pytest.raises(ManifestError) as info:
        read(dist / "manifest.json")
    message = str(info.value)
    assert message.startswith(f"authorizer zip {dist / 'authorizer.zip'} is stale: sha256 ")
    assert message.endswith("; run `make build`")


def test_field_of_wrong_type(dist: Path) -> None:
    path = edit(dist, lambda d: d["functions"]["handler"].update(size="big"))
    with pytest.raises(ManifestError) as info:
        read(path)
    assert str(info.value) == (
        f"{path}: functions.handler.size must be a int, got 'big'; run `make build` to rewrite it"
    )


def test_missing_server_folder(dist: Path) -> None:
    shutil.rmtree(dist / "server")
    with pytest.raises(ManifestError, match=r"server folder .* not found; run `make build`"):
        read(dist / "manifest.json")


def test_manifest_path_env_overrides_config(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("ROA_MANIFEST", raising=False)
    assert manifest_path(Path("dist/manifest.json"), tmp_path) == tmp_path / "dist/manifest.json"
    monkeypatch.setenv("ROA_MANIFEST", "tests/fixtures/manifest.json")
    assert manifest_path(Path("dist/manifest.json"), tmp_path) == (
        tmp_path / "tests/fixtures/manifest.json"
    )
    monkeypatch.setenv("ROA_MANIFEST", "/abs/manifest.json")
    assert manifest_path(Path("dist/manifest.json"), tmp_path) == Path("/abs/manifest.json")


def test_missing_ca_bundle(dist: Path) -> None:
    path = edit(dist, lambda d: d.pop("ca_bundle"))
    with pytest.raises(ManifestError) as info:
        read(path)
    assert str(info.value) == (
        f"artifact manifest {path}: no ca_bundle (the database CA certificates every artifact "
        "ships); run `make build`"
    )


@pytest.mark.parametrize("bad", ["/etc/ssl/ca.pem", "../certs/ca.pem"])
def test_ca_bundle_path_outside_the_artifact(dist: Path, bad: str) -> None:
    path = edit(dist, lambda d: d["ca_bundle"].update(path=bad))
    with pytest.raises(ManifestError, match=r"ca_bundle\.path must be relative to the artifact"):
        read(path)
