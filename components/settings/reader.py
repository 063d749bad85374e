"""Pulumi.yaml's declarations and the typed reader that collects every problem at once."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml

PROJECT = "rust-on-aws"
ROOT = Path(__file__).resolve().parents[2]
PROJECT_FILE = ROOT / "Pulumi.yaml"

#: CloudWatch Logs' allowed retention periods, in days (PutRetentionPolicy).
LOG_RETENTION_DAYS = (
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922,
    3288, 3653,
)  # fmt: skip
ARCHITECTURES = ("x86_64", "arm64")
LAMBDA_RUNTIMES = ("provided.al2023", "provided.al2")
SSL_MODES = ("verify-full", "verify-ca")
"""libpq modes that verify the server's certificate (against the RDS CA bundle the artifacts
ship); `require` would encrypt without knowing whom to."""
#: Fargate task sizes: CPU units -> allowed memory in MiB.
FARGATE_MEMORY: dict[int, tuple[int, ...]] = {
    256: (512, 1024, 2048),
    512: tuple(range(1024, 4097, 1024)),
    1024: tuple(range(2048, 8193, 1024)),
    2048: tuple(range(4096, 16385, 1024)),
    4096: tuple(range(8192, 30721, 1024)),
    8192: tuple(range(16384, 61441, 4096)),
    16384: tuple(range(32768, 122881, 8192)),
}

_REQUIRED: Any = object()


class ConfigError(Exception):
    """The stack's configuration is invalid; `errors` holds one line per problem."""

    def __init__(self, stack: str, errors: Sequence[str]) -> None:
        self.stack = stack
        self.errors = tuple(errors)
        lines = "\n".join(f"  - {e}" for e in self.errors)
        super().__init__(
            f"invalid configuration of stack {stack!r} ({len(self.errors)} error(s)):\n{lines}"
        )


@dataclass(frozen=True)
class KeySpec:
    """One `rust-on-aws:<name>` key as declared in Pulumi.yaml."""

    name: str
    type: Literal["string", "integer", "boolean", "array"]
    description: str
    default: Any


def load_schema(project_file: Path = PROJECT_FILE) -> dict[str, KeySpec]:
    """The project's config declarations (short key name -> spec), defaults included."""
    doc = yaml.safe_load(project_file.read_text())
    specs: dict[str, KeySpec] = {}
    for full, decl in (doc.get("config") or {}).items():
        name = full.split(":", 1)[1] if ":" in full else full
        specs[name] = KeySpec(
            name, decl["type"], decl["description"], decl.get("default", _REQUIRED)
        )
    return specs


class Reader:
    """Reads typed values, collecting errors instead of raising at the first."""

    def __init__(self, raw: Callable[[str], str | None], schema: Mapping[str, KeySpec], stack: str):
        self.raw = raw
        self.schema = schema
        self.stack = stack
        self.errors: list[str] = []

    def fail(self, key: str, rule: str, value: object, fix: str) -> None:
        self.errors.append(f"{PROJECT}:{key}: {rule}, got {value!r}; {fix}")

    def set_fix(self, key: str, example: object) -> str:
        shown = json.dumps(example) if isinstance(example, list) else str(example)
        return f"fix: pulumi config set {key} '{shown}' -s {self.stack}"

    def _value(self, key: str) -> tuple[KeySpec, Any]:
        spec = self.schema[key]
        text = self.raw(key)
        if text is None:
            if spec.default is _REQUIRED:
                return spec, _REQUIRED
            return spec, spec.default
        return spec, text

    def _missing(self, key: str, example: object) -> None:
        self.errors.append(
            f"{PROJECT}:{key}: required (no default in Pulumi.yaml), got nothing; "
            f"{self.set_fix(key, example)}"
        )

    def string(self, key: str, example: str) -> str:
        spec, value = self._value(key)
        if value is _REQUIRED:
            self._missing(key, example)
            return ""
        assert spec.type == "string", key
        return str(value)

    def matching(self, key: str, example: str, pattern: str, rule: str) -> str:
        """A string that must fully match `pattern`; `rule` says so in words."""
        value = self.string(key, example)
        if not re.fullmatch(pattern, value):
            self.fail(key, rule, value, self.set_fix(key, example))
        return value

    def integer(self, key: str, lo: int, hi: int, unit: str) -> int:
        spec, value = self._value(key)
        assert spec.type == "integer", key
        if isinstance(value, bool) or not re.fullmatch(r"-?[0-9]+", str(value).strip()):
            self.fail(key, f"must be an integer ({unit})", value, self.set_fix(key, lo))
            return lo
        number = int(str(value))
        if not lo <= number <= hi:
            self.fail(key, f"must be in {lo}..{hi} ({unit})", number, self.set_fix(key, lo))
        return number

    def boolean(self, key: str) -> bool:
        spec, value = self._value(key)
        assert spec.type == "boolean", key
        if isinstance(value, bool):
            return value
        if str(value).strip().lower() in ("true", "false"):
            return str(value).strip().lower() == "true"
        self.fail(key, "must be true or false", value, self.set_fix(key, "true"))
        return False

    def strings(self, key: str, example: Sequence[str] = ("subnet-0abc",)) -> tuple[str, ...]:
        spec, value = self._value(key)
        assert spec.type == "array", key
        given = value
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except json.JSONDecodeError:
                value = None
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            self.fail(key, "must be a list of strings", given, self.set_fix(key, list(example)))
            return ()
        return tuple(value)

    def choice(self, key: str, allowed: Sequence[str]) -> str:
        value = self.string(key, allowed[0])
        if value and value not in allowed:
            self.fail(
                key, f"must be one of {', '.join(allowed)}", value, self.set_fix(key, allowed[0])
            )
        return value
