"""The native libraries linked into the binaries rather than bundled next to them.

libpq is built from PostgreSQL's sources by the ``pq-src`` crate (pq-sys's ``bundled`` feature,
app/Cargo.toml) and always linked statically. OpenSSL is the build machine's (Debian's
libssl-dev), linked statically by default (``--openssl static``: ``libssl.a`` and
``libcrypto.a``) or dynamically (``--openssl shared``: ``libssl.so.3`` and ``libcrypto.so.3``,
then bundled by build/graft.py like any other library). Nothing of either comes from the Lambda
runtime, so nothing on it can shadow them.

The bill of materials still names every native library an artifact carries: the bundled ones in
``bundled`` (build/manifest.py), the statically linked ones in ``static``, each with its origin
and version. An entry is written only when the binary's own bytes show the library is in it
(OpenSSL's version text, libpq's connection-option names), so the record says what is there,
not what was intended.
"""

from __future__ import annotations

import logging
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from build.errors import BundleError, ConfigError
from build.manifest import dpkg_package
from build.policy import ArchPolicy, host_arch

log = logging.getLogger(__name__)

OPENSSL_MODES = ("static", "shared")
DEFAULT_OPENSSL = "static"
PQ_SRC = "pq-src"

# OpenSSL 3's built-in providers name themselves (providers/defltprov.c, baseprov.c); their
# version parameter is OPENSSL_VERSION_STR ("3.0.19"), the one version string that survives
# static linking and stripping (OPENSSL_VERSION_TEXT does only when OpenSSL_version is called).
_OPENSSL_MARKERS = (b"OpenSSL Default Provider\x00", b"OpenSSL Base Provider\x00")
_OPENSSL_TEXT = re.compile(rb"OpenSSL (\d+\.\d+\.\d+[a-z]?) +\d{1,2} [A-Z][a-z]{2} \d{4}")
# libpq's table of connection options (fe-connect.c PQconninfoOptions) holds these keywords next
# to each other; no other library in the workspace has "sslrootcert" and "requirepeer" both.
_LIBPQ_MARKERS = (b"sslrootcert\x00", b"requirepeer\x00", b"PGSSLROOTCERT\x00")


@dataclass(frozen=True)
class OpenSSLLink:
    """How cargo links OpenSSL: the environment openssl-sys reads, and the files it uses."""

    mode: str
    lib_dir: Path
    include_dir: Path

    def env(self) -> dict[str, str]:
        """openssl-sys's variables (its build.rs: OPENSSL_STATIC, OPENSSL_LIB_DIR, ...)."""
        return {
            "OPENSSL_STATIC": "1" if self.mode == "static" else "0",
            "OPENSSL_LIB_DIR": str(self.lib_dir),
            "OPENSSL_INCLUDE_DIR": str(self.include_dir),
            "OPENSSL_NO_VENDOR": "1",
        }

    @property
    def archives(self) -> tuple[Path, ...]:
        return (self.lib_dir / "libssl.a", self.lib_dir / "libcrypto.a")


def check_openssl_mode(mode: str) -> None:
    """ConfigError for a value of --openssl that is neither static nor shared."""
    if mode not in OPENSSL_MODES:
        raise ConfigError(
            f"--openssl {mode!r} is unknown: use static (libssl.a and libcrypto.a linked into "
            "each binary, the default) or shared (libssl.so.3 and libcrypto.so.3 bundled in lib/)"
        )


def openssl_link(
    mode: str, arch: ArchPolicy, environ: Mapping[str, str], *, root: Path = Path("/")
) -> OpenSSLLink:
    """Where OpenSSL is taken from for ``arch``; ConfigError when it cannot be linked as asked.

    ``OPENSSL_LIB_DIR`` / ``OPENSSL_INCLUDE_DIR`` set by the caller win (an OpenSSL of one's own);
    otherwise Debian's multiarch folders of the target architecture.
    """
    check_openssl_mode(mode)
    lib_dir = Path(environ.get("OPENSSL_LIB_DIR") or root / "usr" / "lib" / arch.host_multiarch)
    include_dir = Path(environ.get("OPENSSL_INCLUDE_DIR") or root / "usr" / "include")
    link = OpenSSLLink(mode, lib_dir, include_dir)
    if mode == "static":
        missing = [path for path in link.archives if not path.is_file()]
        if missing:
            package = (
                "libssl-dev" if arch.name == host_arch() else f"libssl-dev:{_debian_arch(arch)}"
            )
            raise ConfigError(
                f"--openssl static links OpenSSL's {' and '.join(p.name for p in link.archives)} "
                f"for {arch.name} into every binary, and {missing[0]} does not exist: install "
                f"{package} (apt-get install {package}), point OPENSSL_LIB_DIR at a folder "
                "holding both, or build with --openssl shared"
            )
    return link


def _debian_arch(arch: ArchPolicy) -> str:
    return {"x86_64": "amd64", "arm64": "arm64"}.get(arch.name, arch.name)


@dataclass(frozen=True)
class StaticLibrary:
    """One library linked into the binaries, as the manifest's ``static`` list records it."""

    name: str
    version: str
    origin: str
    """Where its code came from: a crate (``crates.io pq-src 0.3.14+libpq-18.6``) or a Debian
    package (``debian libssl-dev 3.0.19-1~deb12u2``)."""
    source: str
    """The file or crate linked."""

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "origin": self.origin,
            "source": self.source,
        }


def locked_version(app: Path, crate: str) -> str | None:
    """``crate``'s version in ``app/Cargo.lock`` (the one cargo built), or None."""
    try:
        lock = tomllib.loads((app / "Cargo.lock").read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError):
        return None
    versions = [p.get("version") for p in lock.get("package", []) if p.get("name") == crate]
    return str(versions[0]) if len(versions) == 1 else None


def candidates(app: Path, openssl: OpenSSLLink | None) -> tuple[StaticLibrary, ...]:
    """What the build may have linked statically: libpq from pq-src, OpenSSL when static."""
    found = []
    pq_src = locked_version(app, PQ_SRC)
    if pq_src is not None:
        # "0.3.14+libpq-18.6": the crate version, then the PostgreSQL release it vendors.
        libpq = pq_src.split("+libpq-", 1)[1] if "+libpq-" in pq_src else pq_src
        found.append(StaticLibrary("libpq", libpq, f"crates.io {PQ_SRC} {pq_src}", PQ_SRC))
    if openssl is not None and openssl.mode == "static":
        package = dpkg_package(openssl.archives[0])
        origin = f"debian {package.name} {package.version}" if package else "unknown"
        # "3.0.19-1~deb12u2" -> "3.0.19" (epoch and Debian revision dropped); checked against
        # the binary's bytes by linked_into.
        upstream = package.version.split(":", 1)[-1].split("-", 1)[0] if package else ""
        found.append(StaticLibrary("openssl", upstream, origin, str(openssl.lib_dir)))
    return tuple(found)


def linked_into(binary: Path, libraries: tuple[StaticLibrary, ...]) -> list[dict[str, Any]]:
    """The entries of ``libraries`` whose code is in ``binary``, read from its bytes."""
    data = binary.read_bytes()
    entries = []
    for lib in libraries:
        markers, needed = (
            (_OPENSSL_MARKERS, any) if lib.name == "openssl" else (_LIBPQ_MARKERS, all)
        )
        if not needed(marker in data for marker in markers):
            log.info("static: %s does not link %s", binary, lib.name)
            continue
        version = _openssl_version(data, lib.version) if lib.name == "openssl" else lib.version
        entries.append({**lib.to_json(), "version": version})
        log.info("static: %s links %s %s", binary, lib.name, version)
    return entries


def _openssl_version(data: bytes, expected: str) -> str:
    """The OpenSSL version the bytes carry: the full version text when present, else the
    provider's version string, which must be the package's (BundleError otherwise)."""
    match = _OPENSSL_TEXT.search(data)
    if match is not None:
        return match.group(1).decode()
    if expected and b"\x00" + expected.encode() + b"\x00" in data:
        return expected
    raise BundleError(
        f"the binary links OpenSSL, but neither its version text nor the package's version "
        f"{expected or '(unknown: no dpkg record of libssl.a)'} is in its bytes: the archives in "
        "OPENSSL_LIB_DIR are not the package's; reinstall libssl-dev or build with --openssl shared"
    )
