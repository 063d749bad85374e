"""A value checked against a shape of botocore's service model, as the JSON protocol carries it.

The independent truth for the CodeDeploy fake: every request it receives and every response it
sends is checked here against `botocore.session.get_session().get_service_model("codedeploy")`
(member names, required members, types, enums, length and range limits), so the fake can only
say what the real API can say.
"""

from __future__ import annotations

from typing import Any

import botocore.session
from botocore.model import ListShape, MapShape, OperationModel, Shape, StructureShape

CODEDEPLOY = botocore.session.get_session().get_service_model("codedeploy")


def operation(name: str) -> OperationModel:
    return CODEDEPLOY.operation_model(name)


def problems(shape: Shape, value: Any, path: str = "$") -> list[str]:
    """Where `value` does not fit `shape` (empty when it does)."""
    meta = shape.metadata
    kind = shape.type_name
    if isinstance(shape, StructureShape):
        if not isinstance(value, dict):
            return [f"{path}: {shape.name} must be an object, got {type(value).__name__}"]
        found = [
            f"{path}.{key}: not a member of {shape.name}"
            for key in value
            if key not in shape.members
        ]
        found += [
            f"{path}.{key}: required by {shape.name}, missing"
            for key in shape.required_members
            if key not in value
        ]
        for key, item in value.items():
            if key in shape.members:
                found += problems(shape.members[key], item, f"{path}.{key}")
        return found
    if isinstance(shape, ListShape):
        if not isinstance(value, list):
            return [f"{path}: {shape.name} must be a list, got {type(value).__name__}"]
        found = []
        if "min" in meta and len(value) < meta["min"]:
            found.append(f"{path}: at least {meta['min']} items, got {len(value)}")
        if "max" in meta and len(value) > meta["max"]:
            found.append(f"{path}: at most {meta['max']} items, got {len(value)}")
        for i, item in enumerate(value):
            found += problems(shape.member, item, f"{path}[{i}]")
        return found
    if isinstance(shape, MapShape):
        if not isinstance(value, dict):
            return [f"{path}: {shape.name} must be an object, got {type(value).__name__}"]
        found = []
        for key, item in value.items():
            found += problems(shape.key, key, f"{path}<key>")
            found += problems(shape.value, item, f"{path}.{key}")
        return found
    if kind == "string":
        if not isinstance(value, str):
            return [f"{path}: {shape.name} must be a string, got {value!r}"]
        if shape.enum and value not in shape.enum:
            return [f"{path}: {value!r} is not one of {shape.name}'s values {shape.enum}"]
        if "min" in meta and len(value) < meta["min"]:
            return [f"{path}: at least {meta['min']} characters, got {len(value)}"]
        if "max" in meta and len(value) > meta["max"]:
            return [f"{path}: at most {meta['max']} characters, got {len(value)}"]
        return []
    if kind in ("integer", "long"):
        if isinstance(value, bool) or not isinstance(value, int):
            return [f"{path}: {shape.name} must be an integer, got {value!r}"]
        if "min" in meta and value < meta["min"]:
            return [f"{path}: at least {meta['min']}, got {value}"]
        return []
    if kind in ("double", "float"):
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        return [] if ok else [f"{path}: {shape.name} must be a number, got {value!r}"]
    if kind == "boolean":
        return [] if isinstance(value, bool) else [f"{path}: must be true or false, got {value!r}"]
    if kind == "timestamp":
        # The JSON protocol sends timestamps as epoch seconds.
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        return [] if ok else [f"{path}: {shape.name} must be epoch seconds, got {value!r}"]
    if kind == "blob":
        return [] if isinstance(value, str) else [f"{path}: blob must be base64, got {value!r}"]
    return [f"{path}: shape type {kind} is not handled by this checker"]
