"""``--base REF``: today's code next to the work tree's, measured in the same run.

The ref's whole tree (``git archive``) is unpacked under the work folder, so its own build step
builds its own app/ and nothing of the work tree leaks in. Unpacked again only when the ref
points at another commit.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

STAMP = ".bench-base-commit"


class BaseError(Exception):
    """A ref that cannot be checked out: one line."""


def checkout(repo: Path, ref: str, dest: Path) -> tuple[Path, str]:
    """``dest`` holding ``ref``'s tree; returns it and the full commit."""
    proc = subprocess.run(
        ["git", "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}"],
        cwd=repo,
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise BaseError(
            f"--base {ref!r} is not a commit of {repo}: pass a branch, tag or commit "
            "(e.g. --base origin/main or --base HEAD~1)"
        )
    commit = proc.stdout.strip()
    stamp = dest / STAMP
    if stamp.is_file() and stamp.read_text().strip() == commit:
        return dest, commit
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    archive = subprocess.run(
        ["git", "archive", "--format=tar", commit], cwd=repo, capture_output=True, check=True
    )
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive.stdout, check=True)
    stamp.write_text(commit + "\n")
    return dest, commit
