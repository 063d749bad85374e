"""Zip and unzipped size per Lambda: ours (bundled libraries included) against cargo-lambda's."""

from __future__ import annotations

import json
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench import builds, table
from bench.outcome import Table, Target

NAME = "size"


def measure_zip(path: Path) -> dict[str, Any]:
    """Sizes of one zip: the file, every entry unzipped, and the share of ``lib/`` (bundled)."""
    with zipfile.ZipFile(path) as archive:
        infos = archive.infolist()
    unzipped = sum(i.file_size for i in infos)
    libs = [i for i in infos if i.filename.startswith("lib/")]
    lib_unzipped = sum(i.file_size for i in libs)
    lib_compressed = sum(i.compress_size for i in libs)
    compressed = sum(i.compress_size for i in infos)
    return {
        "zip": path.stat().st_size,
        "unzipped": unzipped,
        "entries": len(infos),
        "libs": [i.filename for i in libs],
        "lib_unzipped": lib_unzipped,
        "lib_share_unzipped": lib_unzipped / unzipped if unzipped else 0.0,
        "lib_share_zipped": lib_compressed / compressed if compressed else 0.0,
    }


def by_origin(path: Path, manifest: dict[str, Any] | None, function: str) -> dict[str, int]:
    """Zipped bytes of one zip by where they came from: the binary (with what the manifest says
    is linked into it), each bundled library's Debian package, the CA bundle."""
    record = (manifest or {}).get("functions", {}).get(function, {})
    package = {f"lib/{b['name']}": b.get("package") or "unknown" for b in record.get("bundled", [])}
    linked = ", ".join(f"{s['name']} {s['version']}" for s in record.get("static", []))
    out: dict[str, int] = {}
    with zipfile.ZipFile(path) as archive:
        for info in archive.infolist():
            if info.filename == "bootstrap":
                key = f"bootstrap (Rust{' + ' + linked if linked else ''})"
            elif info.filename in package:
                key = f"lib/ from {package[info.filename]}"
            else:
                key = info.filename.split("/", 1)[0] + ("/" if "/" in info.filename else "")
            out[key] = out.get(key, 0) + info.compress_size
    return out


def _manifest(root: Path) -> dict[str, Any] | None:
    path = root / "dist" / "manifest.json"
    return json.loads(path.read_text()) if path.is_file() else None


def deflated(path: Path) -> int:
    """Bytes of ``path`` deflated as a zip entry would be (level 6, zipfile's default)."""
    return len(zlib.compress(path.read_bytes(), 6))


def shared_equivalents() -> dict[str, int]:
    """Upper bounds of what the statically linked libraries add: Debian's shared builds of the
    same code, deflated (whole libraries; static linking keeps only what is called)."""
    lib = Path("/usr/lib/x86_64-linux-gnu")
    groups = {
        "openssl (libssl.so.3 + libcrypto.so.3)": ("libssl.so.3", "libcrypto.so.3"),
        "libpq (Debian's libpq.so.5, more features)": ("libpq.so.5",),
    }
    out = {}
    for label, names in groups.items():
        files = [lib / n for n in names]
        if all(f.exists() for f in files):
            out[label] = sum(deflated(f.resolve()) for f in files)
    return out


def run(
    ctx: builds.Context, *, variants: tuple[str, ...], say: Callable[[str], None]
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any], dict[str, Any]]:
    raw: dict[str, Any] = {}
    medians: dict[str, float] = {}
    audits: dict[str, Any] = {}
    for name in variants:
        variant = builds.VARIANTS[name]
        root = builds.ensure_warm(ctx, variant, say)
        outputs = variant.lambda_outputs(ctx, root)
        manifest = _manifest(root)
        raw[name] = {
            fn: {**measure_zip(path), "by_origin": by_origin(path, manifest, fn)}
            for fn, path in outputs.items()
        }
        if name in ("ours", "base"):
            server = root / "dist" / "server"
            medians[f"{name}.server.bytes"] = sum(
                f.stat().st_size for f in server.rglob("*") if f.is_file()
            )
        audits[name] = [a.__dict__ for a in builds.audit(ctx, variant, root)]
        for fn, sizes in raw[name].items():
            medians[f"{name}.{fn}.zip"] = sizes["zip"]
            medians[f"{name}.{fn}.unzipped"] = sizes["unzipped"]
    commands = {name: builds.command_lines(ctx, builds.VARIANTS[name]) for name in variants}
    extra: dict[str, Any] = {"audits": audits, "shared_equivalents": shared_equivalents()}
    if "base" in raw and "ours" in raw:
        extra["ratios_vs_base"] = {
            fn: raw["ours"][fn]["zip"] / raw["base"][fn]["zip"]
            for fn in raw["ours"]
            if fn in raw["base"]
        }
    return commands, raw, medians, extra


def tables(doc: dict[str, Any]) -> list[Table]:
    raw = doc.get("runs", {})
    ours, theirs = raw.get("ours", {}), raw.get("cargo-lambda", {})
    rows = []
    for fn in sorted(ours or theirs):
        a, b = ours.get(fn), theirs.get(fn)
        rows.append(
            (
                fn,
                table.mib(a and a["zip"]),
                table.mib(a and a["unzipped"]),
                table.percent(a and a["lib_share_zipped"]),
                table.percent(a and a["lib_share_unzipped"]),
                table.mib(b and b["zip"]),
                table.mib(b and b["unzipped"]),
                table.ratio(a["zip"] / b["zip"]) if a and b else "-",
            )
        )
    return [
        Table(
            "Lambda zips: ours (with bundled libraries) vs cargo-lambda's",
            (
                "function",
                "ours zip",
                "ours unzipped",
                "libs share (zip)",
                "libs share (unzipped)",
                "cargo-lambda zip",
                "cargo-lambda unzipped",
                "zip ours / theirs",
            ),
            tuple(rows),
        ),
        *base_tables(doc),
    ]


def base_tables(doc: dict[str, Any]) -> list[Table]:
    """With --base: ours against the base ref's zips, and both broken down by origin."""
    raw = doc.get("runs", {})
    ours, base = raw.get("ours", {}), raw.get("base", {})
    if not ours or not base:
        return []
    ratios = doc.get("extra", {}).get("ratios_vs_base", {})
    rows = tuple(
        (
            fn,
            table.mib(base[fn]["zip"]),
            table.mib(ours[fn]["zip"]),
            table.ratio(ratios.get(fn)),
            table.mib(base[fn]["unzipped"]),
            table.mib(ours[fn]["unzipped"]),
        )
        for fn in sorted(ours)
        if fn in base
    )
    medians = doc.get("medians", {})
    server = medians.get("base.server.bytes"), medians.get("ours.server.bytes")
    if all(server):
        rows += (
            (
                "server/ (folder)",
                table.mib(server[0]),
                table.mib(server[1]),
                table.ratio(server[1] / server[0]),
                "-",
                "-",
            ),
        )
    origin_rows = []
    for side, data in (("base", base), ("ours", ours)):
        fn = sorted(data)[0]
        for key, size in sorted(data[fn]["by_origin"].items(), key=lambda kv: -kv[1]):
            origin_rows.append((side, fn, key, table.mib(size)))
    for label, size in sorted(doc.get("extra", {}).get("shared_equivalents", {}).items()):
        origin_rows.append(("(upper bound)", "-", f"inside bootstrap: {label}", table.mib(size)))
    return [
        Table(
            "Lambda zips: this tree vs --base",
            ("function", "base zip", "ours zip", "ours / base", "base unzipped", "ours unzipped"),
            rows,
        ),
        Table(
            "Zipped bytes by origin (one function; the others differ only in bootstrap)",
            ("build", "function", "what", "zipped"),
            tuple(origin_rows),
        ),
    ]


TARGET_MIB = 6.0
AIM_MIB = 4.0


def targets(doc: dict[str, Any]) -> list[Target]:
    ours = doc.get("runs", {}).get("ours", {})
    if not ours:
        return [Target("every function zip", f"<= {TARGET_MIB:.0f} MiB", "-", None)]
    largest = max(entry["zip"] for entry in ours.values()) / 2**20
    return [
        Target(
            "every function zip",
            f"<= {TARGET_MIB:.0f} MiB (aim {AIM_MIB:.0f})",
            f"largest {largest:.2f} MiB",
            largest <= TARGET_MIB,
        )
    ]
