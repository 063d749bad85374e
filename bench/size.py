"""Zip and unzipped size per Lambda: ours (bundled libraries included) against cargo-lambda's."""

from __future__ import annotations

import zipfile
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
        raw[name] = {fn: measure_zip(path) for fn, path in outputs.items()}
        audits[name] = [a.__dict__ for a in builds.audit(ctx, variant, root)]
        for fn, sizes in raw[name].items():
            medians[f"{name}.{fn}.zip"] = sizes["zip"]
            medians[f"{name}.{fn}.unzipped"] = sizes["unzipped"]
    commands = {name: builds.command_lines(ctx, builds.VARIANTS[name]) for name in variants}
    return commands, raw, medians, {"audits": audits}


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
        )
    ]


def targets(doc: dict[str, Any]) -> list[Target]:  # noqa: ARG001 - no size target in the issue
    return []
