"""plan/artifacts.py on a scratch git repository (no cargo): source keys and the cache."""

from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path

import pytest

from plan import artifacts


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=repo, capture_output=True, text=True, check=True
    ).stdout.strip()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    (root / "app" / "src").mkdir(parents=True)
    (root / "build").mkdir()
    (root / "app" / "src" / "main.rs").write_text("fn main() {}\n")
    (root / "build" / "step.py").write_text("x = 1\n")
    (root / "README.md").write_text("not an input\n")
    (root / ".gitignore").write_text("target/\n/dist/\n")
    git(root, "init", "-q")
    git(root, "-c", "user.email=t@e", "-c", "user.name=t", "add", "-A")
    git(root, "-c", "user.email=t@e", "-c", "user.name=t", "commit", "-qm", "base")
    return root


def test_a_clean_work_tree_has_its_commits_key(repo: Path) -> None:
    assert artifacts.worktree_key(repo) == artifacts.ref_key(repo, "HEAD")
    # files outside the inputs, and ignored ones, do not change it
    (repo / "README.md").write_text("changed\n")
    (repo / "app" / "target").mkdir()
    (repo / "app" / "target" / "x.o").write_text("object")
    assert artifacts.worktree_key(repo) == artifacts.ref_key(repo, "HEAD")
    # the real index is untouched
    assert git(repo, "status", "--porcelain", "--", "app") == ""


@pytest.mark.parametrize(
    "edit",
    [
        lambda r: (r / "app" / "src" / "main.rs").write_text("fn main() { println!(); }\n"),
        lambda r: (r / "app" / "src" / "new.rs").write_text("// untracked\n"),
        lambda r: (r / "build" / "step.py").write_text("x = 2\n"),
        lambda r: (r / "app" / "src" / "main.rs").unlink(),
    ],
    ids=["edited", "untracked", "build-step", "deleted"],
)
def test_any_change_to_an_input_changes_the_key(repo: Path, edit) -> None:
    before = artifacts.ref_key(repo, "HEAD")
    edit(repo)
    assert artifacts.worktree_key(repo) != before


def _dist(folder: Path, payload: bytes = b"zip bytes") -> Path:
    (folder / "server").mkdir(parents=True)
    (folder / "server" / "server").write_bytes(b"elf")
    (folder / "handler.zip").write_bytes(payload)
    manifest = {
        "functions": {
            "handler": {"zip": "handler.zip", "sha256": hashlib.sha256(payload).hexdigest()}
        },
        "server": {"dir": "server", "binary": "server/server", "sha256": "s"},
    }
    (folder / "manifest.json").write_text(json.dumps(manifest))
    return folder


def test_the_cache_stores_and_verifies(repo: Path, tmp_path: Path) -> None:
    key = artifacts.ref_key(repo, "HEAD")
    assert artifacts.cached(repo, key) is None
    stored = artifacts.store(repo, key, _dist(tmp_path / "dist"))
    assert artifacts.cached(repo, key) == stored
    assert stored.is_relative_to(artifacts.common_dir(repo))
    assert (stored.parent / "server" / "server").read_bytes() == b"elf"
    (stored.parent / "handler.zip").write_bytes(b"tampered")
    assert artifacts.cached(repo, key) is None  # a zip that is not its sha256 is not a hit


def test_a_cached_ref_is_not_built_again(repo: Path, tmp_path: Path, monkeypatch) -> None:
    key = artifacts.ref_key(repo, "HEAD")
    artifacts.store(repo, key, _dist(tmp_path / "dist"))

    def no_build(*args: object, **kwargs: object) -> None:
        raise AssertionError("built although cached")

    monkeypatch.setattr(artifacts, "build", no_build)
    assert artifacts.for_ref(repo, "HEAD", target_dir=tmp_path / "target") == artifacts.cached(
        repo, key
    )


def test_a_ref_without_a_build_step_is_refused(repo: Path, tmp_path: Path) -> None:
    git(repo, "rm", "-q", "-r", "build")
    git(repo, "-c", "user.email=t@e", "-c", "user.name=t", "commit", "-qm", "no build")
    (repo / "build").mkdir()
    (repo / "build" / "x.py").write_text("")
    with pytest.raises(artifacts.ArtifactError, match=r"has no build step"):
        artifacts.for_ref(repo, "HEAD", target_dir=tmp_path / "target")
    assert "plan-diff-build" not in git(repo, "worktree", "list")


def test_an_unknown_ref_names_itself(repo: Path) -> None:
    with pytest.raises(artifacts.ArtifactError, match="no-such-ref"):
        artifacts.ref_key(repo, "no-such-ref")
