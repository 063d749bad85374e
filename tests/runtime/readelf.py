"""ELF facts read with binutils' readelf, not with build/elf.py (the code under test)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

# Libraries that came with Debian's libpq5 and that the lean libpq (app/Cargo.toml) leaves out:
# GSSAPI/Kerberos, LDAP, SASL, GnuTLS and its crypto stack, p11-kit, IDN, libffi: the 20
# libraries beside libpq.so.5 in the previous zips but OpenSSL's two (prefixes of file names).
FOREIGN = (
    "libgssapi",
    "libkrb5",
    "libk5crypto",
    "libkrb5support",
    "libcom_err",
    "libkeyutils",
    "libldap",
    "liblber",
    "libsasl2",
    "libgnutls",
    "libnettle",
    "libhogweed",
    "libgmp",
    "libp11-kit",
    "libtasn1",
    "libidn2",
    "libunistring",
    "libffi",
)


def readelf_needed(path: Path) -> set[str]:
    """DT_NEEDED as binutils' readelf prints it (not build/elf.py, which the build uses)."""
    out = subprocess.run(
        ["readelf", "--dynamic", "--wide", str(path)], capture_output=True, text=True, check=True
    ).stdout
    return set(re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", out))


def readelf_soname(path: Path) -> str:
    out = subprocess.run(
        ["readelf", "--dynamic", "--wide", str(path)], capture_output=True, text=True, check=True
    ).stdout
    [soname] = re.findall(r"\(SONAME\)\s+Library soname: \[([^\]]+)\]", out)
    return soname
