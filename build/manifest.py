"""``dist/manifest.json`` (docs/contracts.md section 2) and its bill of materials."""

from __future__ import annotations

import functools
import json
import logging
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from build.errors import CommandError
from build.graft import Bundled
from build.run import run

log = logging.getLogger(__name__)

MANIFEST_VERSION = 1
MANIFEST_NAME = "manifest.json"


@dataclass(frozen=True)
class Package:
    name: str
    version: str


def _alternatives(path: Path) -> list[str]:
    """dpkg records paths as packaged; with merged /usr, /lib/x and /usr/lib/x are one file."""
    text = str(path)
    paths = [text]
    if text.startswith("/usr/"):
        paths.append(text.removeprefix("/usr"))
    else:
        paths.append("/usr" + text)
    return paths


@functools.cache
def dpkg_package(path: Path) -> Package | None:
    """The Debian package that ships ``path`` and its version, or None (no dpkg, unknown file)."""
    if shutil.which("dpkg") is None:
        return None
    for candidate in _alternatives(path):
        try:
            owner = run(["dpkg", "-S", candidate]).stdout
        except CommandError:
            continue
        # "libpq5:amd64: /usr/lib/x86_64-linux-gnu/libpq.so.5" (diversions list several)
        qualified = owner.splitlines()[0].split(": ", 1)[0].split(",")[0].strip()
        name = qualified.split(":", 1)[0]
        try:
            version = run(["dpkg-query", "-W", "-f=${Version}", qualified]).stdout.strip()
        except CommandError:
            version = ""
        log.debug("%s belongs to %s %s", path, name, version)
        return Package(name, version)
    return None


def bundled_entries(bundled: tuple[Bundled, ...]) -> list[dict[str, Any]]:
    """The ``bundled`` list of a function: one entry per library in ``lib/``."""
    entries = []
    for lib in bundled:
        package = dpkg_package(lib.original)
        entries.append(
            {
                "name": lib.name,
                "soname": lib.soname,
                "original": str(lib.original),
                "package": package.name if package else None,
                "version": package.version if package else None,
                "sha256": lib.sha256,
            }
        )
    return entries


def write_json_atomic(path: Path, data: object) -> None:
    """Write ``data`` as JSON to ``path`` via a temporary file and a rename."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    tmp.replace(path)
