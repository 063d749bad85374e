"""The artifacts of a git ref, for a plan diff that shows code changes.

A plan diff compares two plans, and a Lambda's plan names its zip's sha256: planning both sides
with the same manifest would hide every code change. So each side gets the artifacts built from
its own sources:

- the work tree: `python -m build all` into dist/ (a no-op when nothing changed);
- the base ref: the artifacts already built from the same sources, else `python -m build all` in
  a temporary worktree of the ref, sharing the work tree's cargo target folder.

Artifacts are cached by a *source key*: the git tree hashes of the build's inputs (app/ and
build/) and the Rust toolchain's version. The key of a ref and of an unchanged work tree are
equal (git computes both), so a commit that was built once (a PR's base, after `make build` on
main) is never built again. Builds are byte-reproducible (build/README.md), so a function whose
sources did not change has the same sha256 on both sides and only real changes show.

The cache is `<git common dir>/rust-on-aws/artifacts/<key>/`, shared by every worktree of the
repository; CI restores it between runs (preview.yml, actions/cache keyed by the base's key).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path

INPUTS = ("app", "build")
"""What artifacts are made from (paths in the repository)."""
CACHE = Path("rust-on-aws") / "artifacts"


class ArtifactError(Exception):
    """Artifacts for a side of the diff could not be found or built: the message says why."""


def _git(repo: Path, *args: str, env: Mapping[str, str] | None = None) -> str:
    result = subprocess.run(
        ["git", *args],
        cwd=repo,
        capture_output=True,
        text=True,
        check=False,
        env=None if env is None else {**os.environ, **env},
    )
    if result.returncode != 0:
        raise ArtifactError(
            f"`git {' '.join(args)}` in {repo} exited {result.returncode}: "
            f"{result.stderr.strip()[-300:]}"
        )
    return result.stdout.strip()


def common_dir(repo: Path) -> Path:
    """The repository's shared git folder (the same for every worktree)."""
    path = Path(_git(repo, "rev-parse", "--git-common-dir"))
    return path if path.is_absolute() else (repo / path).resolve()


def _toolchain() -> str:
    try:
        return subprocess.run(
            ["rustc", "-vV"], capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError) as exc:
        raise ArtifactError(f"rustc -vV failed ({exc}); install Rust with rustup") from exc


def _key(trees: Mapping[str, str]) -> str:
    text = json.dumps({"trees": dict(trees), "rustc": _toolchain()}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def _trees(repo: Path, treeish: str) -> dict[str, str]:
    """The tree hash of each input folder in `treeish` ("absent" when it has none)."""
    trees = {}
    for name in INPUTS:
        line = _git(repo, "ls-tree", treeish, "--", name)
        parts = line.split()
        trees[name] = parts[2] if len(parts) >= 3 and parts[1] == "tree" else "absent"
    return trees


def ref_key(repo: Path, ref: str) -> str:
    """The source key of a git ref."""
    commit = _git(repo, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}")
    return _key(_trees(repo, commit))


def worktree_key(repo: Path) -> str:
    """The source key of the work tree as it is (uncommitted and untracked files included,
    ignored ones not), computed with a scratch index so the real one is untouched."""
    index = Path(_git(repo, "rev-parse", "--git-path", "index"))
    index = index if index.is_absolute() else repo / index
    with tempfile.TemporaryDirectory(prefix="roa-index-") as tmp:
        scratch = Path(tmp) / "index"
        if index.is_file():
            shutil.copyfile(index, scratch)
        env = {"GIT_INDEX_FILE": str(scratch)}
        _git(repo, "add", "--all", "--", *INPUTS, env=env)
        tree = _git(repo, "write-tree", env=env)
        return _key(_trees(repo, tree))


def cached(repo: Path, key: str) -> Path | None:
    """The cached manifest of `key`, if every zip it names is there with its sha256."""
    manifest = common_dir(repo) / CACHE / key / "manifest.json"
    if not manifest.is_file():
        return None
    try:
        doc = json.loads(manifest.read_text())
        for entry in doc["functions"].values():
            zip_path = manifest.parent / entry["zip"]
            if hashlib.sha256(zip_path.read_bytes()).hexdigest() != entry["sha256"]:
                return None
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return manifest


def store(repo: Path, key: str, dist: Path) -> Path:
    """Copy a build's outputs (manifest, zips, server/) into the cache, atomically."""
    folder = common_dir(repo) / CACHE / key
    if cached(repo, key) is not None:
        return folder / "manifest.json"
    doc = json.loads((dist / "manifest.json").read_text())
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{key}.", dir=folder.parent))
    try:
        for entry in doc["functions"].values():
            shutil.copy2(dist / entry["zip"], staging / entry["zip"])
        shutil.copytree(dist / doc["server"]["dir"], staging / doc["server"]["dir"], symlinks=True)
        shutil.copy2(dist / "manifest.json", staging / "manifest.json")
        if folder.exists():
            shutil.rmtree(folder)
        staging.rename(folder)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return folder / "manifest.json"


def build(source: Path, dist: Path, *, target_dir: Path) -> None:
    """`python -m build all` of the sources at `source` into `dist` (cargo output in
    `target_dir`, so a worktree build reuses the work tree's compiled dependencies)."""
    env = {**os.environ, "CARGO_TARGET_DIR": str(target_dir)}
    result = subprocess.run(
        [sys.executable, "-m", "build", "all", "--dist", str(dist)],
        cwd=source,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        tail = (result.stderr or result.stdout).strip().splitlines()[-8:]
        raise ArtifactError(
            f"`python -m build all` in {source} exited {result.returncode}: " + " / ".join(tail)
        )


def for_worktree(repo: Path, *, target_dir: Path) -> Path:
    """The work tree's manifest: `make build`'s dist/, brought up to date, then cached."""
    dist = repo / "dist"
    build(repo, dist, target_dir=target_dir)
    store(repo, worktree_key(repo), dist)
    return dist / "manifest.json"


def for_ref(repo: Path, ref: str, *, target_dir: Path) -> Path:
    """The manifest of `ref`'s artifacts: cached, or built in a temporary worktree."""
    key = ref_key(repo, ref)
    manifest = cached(repo, key)
    if manifest is not None:
        return manifest
    with tempfile.TemporaryDirectory(prefix="plan-diff-build-") as tmp:
        tree = Path(tmp) / "src"
        _git(repo, "worktree", "add", "--detach", "--quiet", str(tree), ref)
        try:
            if not (tree / "build" / "__main__.py").is_file():
                raise ArtifactError(f"{ref} has no build step (build/__main__.py) to build with")
            build(tree, tree / "dist", target_dir=target_dir)
            return store(repo, key, tree / "dist")
        finally:
            subprocess.run(
                ["git", "worktree", "remove", "--force", str(tree)], cwd=repo, check=False
            )


def main(argv: list[str]) -> int:
    """`python -m plan.artifacts key REF`: the source key of REF (CI's cache key)."""
    if len(argv) != 2 or argv[0] != "key":
        print("usage: python -m plan.artifacts key <git ref>", file=sys.stderr)
        return 2
    try:
        print(ref_key(Path.cwd(), argv[1]))
    except ArtifactError as exc:
        print(f"plan.artifacts: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
