"""The workspace measured: a snapshot of app/ (sources only) under the benchmark's work folder.

Every variant builds the same snapshot, so an edit to app/ during a run (other people work in
the same checkout) cannot make one tool compile more than another. The copy keeps file times,
and is only replaced when the sources changed, so warm target folders stay warm.
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

EXCLUDED = {"target", ".git"}


def _files(root: Path) -> list[Path]:
    out: list[Path] = []
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if rel.parts and rel.parts[0] in EXCLUDED:
            continue
        if path.is_file():
            out.append(rel)
    return out


def source_hash(root: Path) -> str:
    """sha256 over every (relative path, content) of the workspace, target/ left out."""
    digest = hashlib.sha256()
    for rel in _files(root):
        digest.update(str(rel).encode() + b"\0")
        digest.update(hashlib.sha256((root / rel).read_bytes()).digest())
    return digest.hexdigest()


def snapshot(app: Path, dest: Path) -> str:
    """Make ``dest`` a copy of ``app``'s sources (unless it already is one); return their hash."""
    wanted = source_hash(app)
    if dest.is_dir() and source_hash(dest) == wanted:
        return wanted
    if dest.exists():
        shutil.rmtree(dest)
    shutil.copytree(app, dest, ignore=shutil.ignore_patterns(*EXCLUDED), symlinks=True)
    return wanted
