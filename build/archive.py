"""Reproducible Lambda zips: the same files give the same bytes, on any day, on any machine.

Entries are sorted, every timestamp is SOURCE_DATE_EPOCH (or 1980-01-01, the earliest a zip can
hold), modes are fixed (bootstrap 0755, everything else 0644), no directory entries, no extra
fields, one compression level. Deflate output depends on the zlib build as well: the bytes are
reproducible for a given Python + zlib (see build/README.md).
"""

from __future__ import annotations

import os
import time
import zipfile
from pathlib import Path

from build.errors import ConfigError, LimitError

ZIP_EPOCH = 315532800  # 1980-01-01T00:00:00Z, the earliest DOS date
COMPRESS_LEVEL = 6  # zlib's default: level 9 saves 0.5% of a Lambda zip for 3x the time
EXECUTABLES = frozenset({"bootstrap"})
# Lambda quotas: https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html
MAX_ZIPPED = 50 * 1024 * 1024
MAX_UNZIPPED = 250 * 1024 * 1024


def source_date_epoch(environ: dict[str, str] | None = None) -> int:
    """The timestamp for every entry: SOURCE_DATE_EPOCH clamped to 1980, else 1980-01-01."""
    env = os.environ if environ is None else environ
    value = env.get("SOURCE_DATE_EPOCH")
    if value is None or value == "":
        return ZIP_EPOCH
    try:
        epoch = int(value)
    except ValueError:
        raise ConfigError(
            f"SOURCE_DATE_EPOCH must be whole seconds since 1970 (e.g. `git log -1 --format=%ct`), "
            f"got {value!r}; set it to an integer or unset it"
        ) from None
    return max(epoch, ZIP_EPOCH)


def write_zip(src: Path, dest: Path, *, epoch: int | None = None) -> None:
    """Zip the files under ``src`` (relative names, sorted) into ``dest``."""
    stamp = time.gmtime(source_date_epoch() if epoch is None else epoch)[:6]
    files = sorted((p.relative_to(src).as_posix(), p) for p in src.rglob("*") if p.is_file())
    with zipfile.ZipFile(dest, "w") as archive:
        for name, path in files:
            info = zipfile.ZipInfo(name, date_time=stamp)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = 3  # Unix, so the mode below is honoured
            mode = 0o755 if name in EXECUTABLES else 0o644
            info.external_attr = (0o100000 | mode) << 16
            with path.open("rb") as f:
                archive.writestr(info, f.read(), compresslevel=COMPRESS_LEVEL)


def unzipped_size(path: Path) -> int:
    with zipfile.ZipFile(path) as archive:
        return sum(info.file_size for info in archive.infolist())


def check_limits(name: str, zipped: int, unzipped: int) -> None:
    """LimitError when a function's zip is over Lambda's deployment package quotas."""
    mib = 1024 * 1024
    if zipped > MAX_ZIPPED:
        raise LimitError(
            f"{name}.zip is {zipped / mib:.1f} MiB zipped, over Lambda's {MAX_ZIPPED // mib} MiB "
            "limit for a direct upload; shrink it (profile.release strip = true, opt-level = "
            '"s", lto = true) or upload it through S3'
        )
    if unzipped > MAX_UNZIPPED:
        raise LimitError(
            f"{name}.zip is {unzipped / mib:.1f} MiB unzipped, over Lambda's "
            f"{MAX_UNZIPPED // mib} MiB limit; shrink the binary (strip = true, lto = true) or "
            "bundle fewer libraries (drop unused features), or ship a container image instead"
        )
