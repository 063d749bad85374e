"""The function declarations: what each crate of the workspace deploys, in its own Cargo.toml.

One mechanism with several users: `python -m build` reads the declarations from `cargo
metadata` (and refuses a bad one before compiling), the manifest records them, the Pulumi
program creates and wires one function per declaration, and the runtime tests and the local
stack run what is declared. No Pulumi import here (build/ uses it).

- `declarations.schema`: the declaration, its validation and its JSON form in the manifest;
- `declarations.schedule`: EventBridge schedule expressions, checked as AWS documents them.
"""

from __future__ import annotations

from declarations.schedule import schedule_problem
from declarations.schema import (
    API_TRIGGERS,
    ENV_NAME,
    FUNCTION_TABLE,
    PROGRAM_ENV,
    REFERENCES,
    SERVICE_TABLE,
    TRIGGERS,
    DeclarationError,
    FunctionDeclaration,
    IamStatement,
    ServiceDeclaration,
    Trigger,
    from_cargo_metadata,
    function_from_json,
    parse_function,
    parse_service,
    references,
    resolve,
    validate_set,
)

__all__ = [
    "API_TRIGGERS",
    "ENV_NAME",
    "FUNCTION_TABLE",
    "PROGRAM_ENV",
    "REFERENCES",
    "SERVICE_TABLE",
    "TRIGGERS",
    "DeclarationError",
    "FunctionDeclaration",
    "IamStatement",
    "ServiceDeclaration",
    "Trigger",
    "from_cargo_metadata",
    "function_from_json",
    "parse_function",
    "parse_service",
    "references",
    "resolve",
    "schedule_problem",
    "validate_set",
]
