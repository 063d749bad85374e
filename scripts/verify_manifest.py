"""`python scripts/verify_manifest.py [--digest D] dist/manifest.json`: deploy exactly the bytes
that were built.

Deploy jobs download the `dist` artifact built once per commit and run this before `pulumi up`:
every zip named in the manifest must exist with the recorded size and sha256, and the server
binary must exist. With `--digest`, the artifacts must also be the ones a stack runs: its
`artifact_digest` output (components/manifest.py), which the drift check passes. Exits 1 with
one line per mismatch; prints one line per artifact, and the digest, otherwise.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from components.manifest import artifact_digest  # noqa: E402 - after the path is set


def verify(manifest_path: Path, digest: str | None = None) -> list[str]:
    """Problems found, one line each (empty when every artifact matches, and its digest is
    `digest` when one is given)."""
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
    if problems or not server:
        return problems
    actual = artifact_digest(
        {name: entry["sha256"] for name, entry in manifest.get("functions", {}).items()},
        server["sha256"],
    )
    print(f"artifact digest {actual}")
    if digest is not None and actual != digest:
        problems.append(
            f"artifact digest {actual} is not the stack's {digest}: these are not the bytes it "
            "runs; use the dist artifact of the deployed commit, or rebuild that commit with the "
            "same toolchain"
        )
    return problems


def main(argv: list[str]) -> int:
    """Check the manifest (and, with --digest, that it is the stack's)."""
    parser = argparse.ArgumentParser(prog="python scripts/verify_manifest.py")
    parser.add_argument("manifest", type=Path)
    parser.add_argument("--digest", help="the stack's artifact_digest output")
    args = parser.parse_args(argv)
    problems = verify(args.manifest, args.digest)
    for line in problems:
        print(f"error: {line}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
