"""Results files: ``bench/results/<name>.json``, and the comparison with the previous one.

Schema (version 1)::

    {"version": 1, "name": "build", "date": "<UTC ISO 8601>", "machine": {...},
     "workspace": {"sha256": "<hash of the app/ sources measured>", ...},
     "commands": {"<variant>": ["argv", ...] or [[...], ...]},
     "runs": {"<variant>": [{"seconds": ..., "max_rss_kib": ..., ...}, ...]},
     "medians": {"<metric>": <number>, ...},
     "extra": {...benchmark specific: ratios, audits, sizes, targets...}}

``medians`` is flat (``"<variant>.seconds"`` -> number), so that two results files compare
key by key whatever the benchmark.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from bench.stats import changes, format_change

VERSION = 1


def load(path: Path) -> dict[str, Any] | None:
    """The results in ``path``, None when missing or unreadable (then nothing is compared)."""
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None
    if not isinstance(data, dict) or data.get("version") != VERSION:
        return None
    return data


def document(
    name: str,
    *,
    machine: Mapping[str, object],
    commands: Mapping[str, object],
    runs: Mapping[str, object],
    medians: Mapping[str, float],
    extra: Mapping[str, object] | None = None,
    workspace: Mapping[str, object] | None = None,
) -> dict[str, Any]:
    return {
        "version": VERSION,
        "name": name,
        "date": dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat(),
        "machine": dict(machine),
        "workspace": dict(workspace or {}),
        "commands": dict(commands),
        "runs": dict(runs),
        "medians": dict(medians),
        "extra": dict(extra or {}),
    }


def write(results_dir: Path, doc: Mapping[str, Any]) -> tuple[Path, dict[str, Any] | None]:
    """Write ``doc`` to ``<results_dir>/<name>.json`` (atomically); return the path and the
    results it replaced (None if there were none)."""
    path = results_dir / f"{doc['name']}.json"
    previous = load(path)
    results_dir.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n")
    tmp.replace(path)
    return path, previous


def comparison(doc: Mapping[str, Any], previous: Mapping[str, Any] | None) -> list[str]:
    """Lines "metric: now (was, change)" for every median, against the previous results."""
    if previous is None:
        return ["(no previous results to compare with)"]
    old = previous.get("medians", {})
    lines = [f"change vs previous results of {previous.get('date', '?')}:"]
    for key, delta in changes(doc["medians"], old).items():
        was = old.get(key)
        was_text = "-" if was is None else f"{was:.4g}"
        lines.append(f"  {key}: {doc['medians'][key]:.4g} (was {was_text}, {format_change(delta)})")
    return lines
