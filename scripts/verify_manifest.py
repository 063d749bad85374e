"""`python scripts/verify_manifest.py dist/manifest.json`: deploy exactly the bytes that were built.

Deploy jobs download the `dist` artifact built once per commit and run this before `pulumi up`:
every zip named in the manifest must exist with the recorded size and sha256, and the server
binary must exist. Exits 1 with one line per mismatch; prints one line per artifact otherwise.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path


def verify(manifest_path: Path) -> list[str]:
    """Problems found, one line each (empty when every artifact matches)."""
    if not manifest_path.is_file():
        return [f"manifest {manifest_path} not found; download the dist artifact or `make build`"]
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    base = manifest_path.parent
    problems: list[str] = []
    for name, entry in sorted(manifest.get("functions", {}).items()):
        zip_path = base / entry["zip"]
        if not zip_path.is_file():
            problems.append(f"{name}: {zip_path} is missing; the artifact is incomplete")
            continue
        data = zip_path.read_bytes()
        actual = hashlib.sha256(data).hexdigest()
        if actual != entry["sha256"] or len(data) != entry["size"]:
            problems.append(
                f"{name}: {zip_path} has sha256 {actual} ({len(data)} bytes), manifest says "
                f"{entry['sha256']} ({entry['size']} bytes); rebuild with `make build`"
            )
        else:
            print(f"ok {name}: {entry['sha256']}")
    server = manifest.get("server")
    if server and not (base / server["binary"]).is_file():
        problems.append(f"server: {base / server['binary']} is missing; the artifact is incomplete")
    return problems


def main(argv: list[str]) -> int:
    """Check the manifest given as the only argument."""
    if len(argv) != 1:
        print("usage: python scripts/verify_manifest.py dist/manifest.json", file=sys.stderr)
        return 2
    problems = verify(Path(argv[0]))
    for line in problems:
        print(f"error: {line}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
