"""The configuration keys as the Markdown table components/README.md shows (from Pulumi.yaml)."""

from __future__ import annotations

import json
from pathlib import Path

from components.settings.reader import _REQUIRED, PROJECT_FILE, load_schema

HEADER = "| key | type | default | meaning |\n| --- | --- | --- | --- |\n"


def config_table(project_file: Path = PROJECT_FILE) -> str:
    """One row per declared key, in Pulumi.yaml's order."""
    rows = []
    for spec in load_schema(project_file).values():
        if spec.default is _REQUIRED:
            default = "*(required)*"
        elif isinstance(spec.default, bool):
            default = f"`{str(spec.default).lower()}`"
        elif spec.default == "":
            default = '`""`'
        elif isinstance(spec.default, list):
            default = f"`{json.dumps(spec.default)}`"
        else:
            default = f"`{spec.default}`"
        rows.append(f"| `{spec.name}` | {spec.type} | {default} | {spec.description} |\n")
    return HEADER + "".join(rows)


if __name__ == "__main__":
    print(config_table(), end="")
