"""--base: the checkout of the base ref, sizes by origin, the paired cold starts' arithmetic and
targets, and the guards. No compiling, no timing asserted."""

from __future__ import annotations

import contextlib
import io
import subprocess
import zipfile
from pathlib import Path

import pytest

from bench import base, cold, coldstart, size
from bench.__main__ import main
from local import cli


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@t", *args],
        cwd=repo,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    root.mkdir()
    git(root, "init", "-q")
    (root / "a.txt").write_text("one\n")
    git(root, "add", "a.txt")
    git(root, "commit", "-qm", "one")
    return root


def test_checkout_unpacks_the_refs_tree_and_reuses_it_until_the_ref_moves(
    repo: Path, tmp_path: Path
) -> None:
    dest, first = base.checkout(repo, "HEAD", tmp_path / "base")
    assert (dest / "a.txt").read_text() == "one\n"
    assert first == git(repo, "rev-parse", "HEAD")
    (dest / "marker").write_text("kept while the ref stays")
    assert base.checkout(repo, "HEAD", dest) == (dest, first)
    assert (dest / "marker").exists()
    (repo / "a.txt").write_text("two\n")
    git(repo, "commit", "-qam", "two")
    _, second = base.checkout(repo, "HEAD", dest)
    assert second != first
    assert (dest / "a.txt").read_text() == "two\n"
    assert not (dest / "marker").exists()


def test_checkout_refuses_a_ref_that_is_not_a_commit(repo: Path, tmp_path: Path) -> None:
    with pytest.raises(
        base.BaseError,
        match=r"^--base 'no-such-branch' is not a commit of .*"
        r"pass a branch, tag or commit",
    ):
        base.checkout(repo, "no-such-branch", tmp_path / "base")
    assert not (tmp_path / "base").exists()


def test_base_variants_without_base_are_refused(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--only", "size", "--variants", "ours,cargo-base"]) == 2
    assert "no --base REF was given: add --base origin/main" in capsys.readouterr().err


def test_bytes_by_origin_follow_the_manifest(tmp_path: Path) -> None:
    path = tmp_path / "handler.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as z:
        z.writestr("bootstrap", b"b" * 300)
        z.writestr("lib/libpq-12345678.so.5", b"l" * 100)
        z.writestr("lib/libgssapi_krb5-87654321.so.2", b"k" * 50)
        z.writestr("certs/rds-ca-bundle.pem", b"c" * 7)
    manifest = {
        "functions": {
            "handler": {
                "bundled": [
                    {"name": "libpq-12345678.so.5", "package": "libpq5"},
                    {"name": "libgssapi_krb5-87654321.so.2", "package": "libgssapi-krb5-2"},
                ],
                "static": [{"name": "openssl", "version": "3.0.19"}],
            }
        }
    }
    assert size.by_origin(path, manifest, "handler") == {
        "bootstrap (Rust + openssl 3.0.19)": 300,
        "lib/ from libpq5": 100,
        "lib/ from libgssapi-krb5-2": 50,
        "certs/": 7,
    }
    assert size.by_origin(path, None, "handler")["bootstrap (Rust)"] == 300


def _zip_doc(ours_mib: float) -> dict:
    return {"runs": {"ours": {"handler": {"zip": int(ours_mib * 2**20)}}}}


def test_the_size_target_is_six_mib_per_zip() -> None:
    assert size.targets(_zip_doc(5.9))[0].met is True
    assert size.targets(_zip_doc(6.1))[0].met is False
    assert size.targets({"runs": {}})[0].met is None


def test_cold_build_against_the_bases_plain_cargo() -> None:
    def doc(ours: float, cargo_base: float) -> dict:
        return {
            "medians": {"ours.seconds": ours, "cargo-base.seconds": cargo_base},
            "extra": {"ratios_vs_ours": {"cargo-base": {"median": cargo_base / ours}}},
        }

    [met] = [t for t in cold.targets(doc(115.0, 100.0)) if "--base" in t.name]
    assert met.met is True and met.measured.startswith("1.15x")
    [missed] = [t for t in cold.targets(doc(120.0, 100.0)) if "--base" in t.name]
    assert missed.met is False


def test_paired_init_target_is_the_median_of_the_ratios() -> None:
    doc = {"medians": {"paired.a.ratio": 0.8, "paired.b.ratio": 1.3, "paired.c.ratio": 0.9}}
    [target] = coldstart.targets(doc)
    assert target.met is True
    assert target.measured == "0.90x (worst b 1.30x)"
    doc["medians"]["paired.a.ratio"] = 1.2
    assert coldstart.targets(doc)[0].met is False


def test_init_duration_is_read_from_local_invokes_output() -> None:
    """The line `python -m local invoke` prints on a cold start (local/cli.py's printer)."""
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        cli._print_invocation(
            "timer", b"{}", error=False, cold=True, init="12.4", took="3.0", log="x"
        )
    match = coldstart._INIT.search(err.getvalue())
    assert match and float(match.group(1)) == 12.4
    warm = io.StringIO()
    with contextlib.redirect_stderr(warm), contextlib.redirect_stdout(io.StringIO()):
        cli._print_invocation("timer", b"{}", error=False, cold=False, init=None, took="3", log="")
    assert coldstart._INIT.search(warm.getvalue()) is None


def test_the_paired_table_shows_every_run_and_the_first_invocations() -> None:
    doc = {
        "runs": {
            "paired": {
                "init_ms": {"timer": {"base": [16.0, 18.0, None], "ours": [11.0, 12.0, 13.0]}},
                "first_invoke_ms": {"timer": {"base": [40.0], "ours": [30.0]}},
            }
        },
        "medians": {
            "paired.timer.base_ms": 17.0,
            "paired.timer.ours_ms": 12.0,
            "paired.timer.ratio": 0.7,
            "paired.timer.base_first_invoke_ms": 40.0,
            "paired.timer.ours_first_invoke_ms": 30.0,
        },
    }
    [tab] = coldstart.tables(doc)
    assert tab.rows == (
        (
            "timer",
            "17.0 ms",
            "12.0 ms",
            "0.70x",
            "16.0 / 18.0 / -",
            "11.0 / 12.0 / 13.0",
            "40.0 ms",
            "30.0 ms",
        ),
    )
