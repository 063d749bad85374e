"""One declaration per deployed binary, in its crate's Cargo.toml, validated in one place.

A function::

    [package.metadata.rust-on-aws.function]
    trigger = "schedule"            # api, api-authorizer, event-pattern, schedule, migration, none
    schedule = "rate(1 hour)"       # trigger schedule: an EventBridge rate(...) or cron(...)
    memory = 128                    # MiB, 128..10240 (cargo-lambda's key)
    timeout = 60                    # seconds, 1..900; 1..29 behind API Gateway (cargo-lambda's key)
    reserved-concurrency = 10       # optional: reserved concurrent executions
    database = true                 # in the VPC, with the runtime role's secret and DB_* variables
    vpc = true                      # in the VPC (default: the value of database)
    tracing = "Active"              # optional: X-Ray, Active or PassThrough (cargo-lambda's key)
    env = { RETENTION_DAYS = "30" } # more environment variables (cargo-lambda's key)

    [package.metadata.rust-on-aws.function.pattern]      # trigger event-pattern: the pattern
    source = ["aws.ecr"]

    [[package.metadata.rust-on-aws.function.iam]]        # least-privilege grants beyond the base
    actions = ["ecr:DescribeImages"]
    resources = ["${ecr-repository.arn}"]

and the ECS service (at most one)::

    [package.metadata.rust-on-aws.service]
    port = 8080

Strings may name stack resources as `${reference}` (see `REFERENCES`); the program substitutes
them. Every problem is one line naming the Cargo.toml, the key, the rule, the value and the fix,
and all of them are reported at once (`DeclarationError.problems`).
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from declarations.schedule import schedule_problem

FUNCTION_TABLE = "package.metadata.rust-on-aws.function"
SERVICE_TABLE = "package.metadata.rust-on-aws.service"
TRIGGERS = ("api", "api-authorizer", "event-pattern", "schedule", "migration", "none")
"""api: serves every route of app/routes.json (at most one); api-authorizer: the REST API's TOKEN
authorizer (exactly one with an api function); event-pattern: an EventBridge rule with `pattern`;
schedule: an EventBridge schedule; migration: the step run by `pulumi up` before new code goes
live, the only holder of the master secret (at most one, required by database functions);
none: invoked by nothing of the stack."""
API_TRIGGERS = frozenset({"api", "api-authorizer"})
TRACING = ("Active", "PassThrough")
ARCHITECTURES = ("x86_64", "arm64")
DEFAULT_MEMORY_MB = 128
"""Lambda's default memory."""
DEFAULT_TIMEOUT_S = 3
"""Lambda's default timeout."""
NAME = re.compile(r"[a-z](?:[a-z0-9-]{0,30}[a-z0-9])?")
"""A function's (binary's) name: it names resources, zips and log groups."""
ENV_NAME = re.compile(r"[A-Z][A-Z0-9_]*")
PROGRAM_ENV = frozenset(
    {
        "DB_HOST",
        "DB_PORT",
        "DB_NAME",
        "DB_SSLMODE",
        "DB_SSLROOTCERT",
        "DB_SECRET_ARN",
        "DB_MASTER_SECRET_ARN",
        "DB_APP_SECRET_ARN",
        "DB_APP_USERNAME",
        "RUST_LOG",
    }
)
"""Variables the program sets itself (docs/contracts.md section 3)."""
CREDENTIAL_ENV = frozenset({"DB_PASSWORD", "PGPASSWORD", "DATABASE_URL", "DB_USERNAME"})
ACTION = re.compile(r"[a-z0-9-]+:[A-Za-z0-9]+")
REFERENCES = {
    "ecr-repository.name": "the service's ECR repository name",
    "ecr-repository.arn": "the service's ECR repository ARN",
    "stack": "the stack's name",
    "region": "the stack's AWS region",
    "account": "the stack's AWS account id",
}
"""What `${...}` in a declaration's strings may name."""
_PLACEHOLDER = re.compile(r"\$\{([^}]*)\}")
_FUNCTION_KEYS = (
    "trigger",
    "schedule",
    "pattern",
    "memory",
    "timeout",
    "reserved-concurrency",
    "architecture",
    "database",
    "vpc",
    "tracing",
    "env",
    "iam",
    "bin",
)
_SERVICE_KEYS = ("port", "bin")
_IAM_KEYS = ("actions", "resources")


class DeclarationError(ValueError):
    """Declarations break the rules; `problems` holds one line per problem."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = tuple(problems)
        if len(self.problems) == 1:
            super().__init__(self.problems[0])
        else:
            lines = "\n".join(f"  - {p}" for p in self.problems)
            super().__init__(f"{len(self.problems)} problems with the declarations:\n{lines}")


@dataclass(frozen=True)
class IamStatement:
    actions: tuple[str, ...]
    resources: tuple[str, ...]


@dataclass(frozen=True)
class Trigger:
    kind: str
    schedule: str | None = None
    pattern_json: str | None = None
    """The event pattern as canonical JSON (sorted keys), `${...}` references unresolved."""

    @property
    def pattern(self) -> dict[str, Any] | None:
        return None if self.pattern_json is None else json.loads(self.pattern_json)


@dataclass(frozen=True)
class FunctionDeclaration:
    """A function as declared (before per-stack overrides)."""

    name: str
    trigger: Trigger
    memory: int = DEFAULT_MEMORY_MB
    timeout: int = DEFAULT_TIMEOUT_S
    reserved_concurrency: int | None = None
    architecture: str | None = None
    database: bool = False
    vpc: bool = False
    tracing: str | None = None
    env: tuple[tuple[str, str], ...] = ()
    iam: tuple[IamStatement, ...] = ()
    package: str = ""
    """The Cargo package that declares it (for messages)."""

    def to_json(self) -> dict[str, Any]:
        """The manifest's record: the Cargo.toml keys, normalised (read back by
        `function_from_json`)."""
        doc: dict[str, Any] = {
            "trigger": self.trigger.kind,
            "memory": self.memory,
            "timeout": self.timeout,
            "database": self.database,
            "vpc": self.vpc,
        }
        if self.trigger.schedule is not None:
            doc["schedule"] = self.trigger.schedule
        if self.trigger.pattern is not None:
            doc["pattern"] = self.trigger.pattern
        if self.reserved_concurrency is not None:
            doc["reserved-concurrency"] = self.reserved_concurrency
        if self.architecture is not None:
            doc["architecture"] = self.architecture
        if self.tracing is not None:
            doc["tracing"] = self.tracing
        if self.env:
            doc["env"] = dict(self.env)
        if self.iam:
            doc["iam"] = [
                {"actions": list(s.actions), "resources": list(s.resources)} for s in self.iam
            ]
        return doc


@dataclass(frozen=True)
class ServiceDeclaration:
    name: str
    """The server binary's name."""
    port: int = 8080
    package: str = ""


@dataclass
class _Checker:
    """Collects problems for one table (`where` names the file and the table)."""

    where: str
    problems: list[str] = field(default_factory=list)

    def fail(self, key: str, rule: str, value: object, fix: str) -> None:
        self.problems.append(f"{self.where} {key}: {rule}, got {value!r}; fix: {fix}")

    def unknown_keys(self, table: Mapping[str, Any], known: Sequence[str]) -> None:
        for key in table:
            if key not in known:
                near = difflib.get_close_matches(str(key), list(known), n=1)
                self.fail(
                    str(key),
                    f"not a key of the declaration ({', '.join(known)})",
                    table[key],
                    f"did you mean {near[0]}? rename it" if near else "remove it",
                )

    def integer(
        self, table: Mapping[str, Any], key: str, lo: int, hi: int, default: int, *, why: str = ""
    ) -> int:
        value = table.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
            # The nearest allowed value for a number out of range, else the default.
            near = min(max(value, lo), hi) if type(value) is int else min(max(default, lo), hi)
            self.fail(key, f"must be a whole number in {lo}..{hi}{why}", value, f"{key} = {near}")
            return default
        return value

    def boolean(self, table: Mapping[str, Any], key: str, default: bool) -> bool:
        value = table.get(key, default)
        if not isinstance(value, bool):
            self.fail(key, "must be true or false", value, f"{key} = {str(default).lower()}")
            return default
        return value

    def references(self, key: str, text: str) -> None:
        for name in _PLACEHOLDER.findall(text):
            if name not in REFERENCES:
                near = difflib.get_close_matches(name, list(REFERENCES), n=1)
                hint = f"${{{near[0]}}}" if near else f"one of {', '.join(REFERENCES)}"
                self.fail(
                    key,
                    f"${{{name}}} names nothing the stack provides ({', '.join(REFERENCES)})",
                    text,
                    f"use {hint}",
                )


def _pattern_problem(value: Any, path: str = "pattern") -> str | None:
    """Why `value` is not an EventBridge event pattern: a non-empty object whose leaves are
    non-empty arrays of match values (https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-event-patterns.html)."""
    if not isinstance(value, Mapping) or not value:
        return f"{path} must be a non-empty table"
    for key, item in value.items():
        if isinstance(item, Mapping):
            problem = _pattern_problem(item, f"{path}.{key}")
            if problem:
                return problem
        elif not isinstance(item, list) or not item:
            return f"{path}.{key} must be a non-empty array of values (or a nested table)"
    return None


def _strings_in(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from _strings_in(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings_in(item)


def _trigger(c: _Checker, table: Mapping[str, Any]) -> Trigger:
    kind = table.get("trigger")
    if kind not in TRIGGERS:
        c.fail("trigger", f"must be one of {', '.join(TRIGGERS)}", kind, 'trigger = "none"')
        return Trigger("none")
    schedule = table.get("schedule")
    pattern = table.get("pattern")
    if kind == "schedule":
        problem = (
            "must be an EventBridge schedule expression"
            if not isinstance(schedule, str)
            else schedule_problem(schedule)
        )
        if problem:
            c.fail("schedule", problem, schedule, 'schedule = "rate(1 hour)"')
            schedule = None
    elif schedule is not None:
        c.fail("schedule", f"is only for trigger schedule (this is {kind})", schedule, "remove it")
        schedule = None
    pattern_json = None
    if kind == "event-pattern":
        problem = _pattern_problem(pattern)
        if problem:
            c.fail(
                "pattern",
                f"{problem} (an EventBridge event pattern)",
                pattern,
                '[package.metadata.rust-on-aws.function.pattern] source = ["aws.ecr"]',
            )
        else:
            for text in _strings_in(pattern):
                c.references("pattern", text)
            pattern_json = json.dumps(pattern, sort_keys=True, separators=(",", ":"))
    elif pattern is not None:
        c.fail(
            "pattern", f"is only for trigger event-pattern (this is {kind})", pattern, "remove it"
        )
    return Trigger(kind, schedule if kind == "schedule" else None, pattern_json)


def _env(c: _Checker, table: Mapping[str, Any], database: bool) -> tuple[tuple[str, str], ...]:
    env = table.get("env", {})
    if not isinstance(env, Mapping):
        c.fail("env", 'must be a table of NAME = "value"', env, 'env = { NAME = "value" }')
        return ()
    out = []
    for name, value in sorted(env.items()):
        key = f"env.{name}"
        if not isinstance(name, str) or not ENV_NAME.fullmatch(name):
            c.fail(key, "must be an upper-case name [A-Z][A-Z0-9_]*", name, "rename it")
        elif name.startswith(("AWS_", "LAMBDA_")):
            c.fail(key, "is reserved by Lambda (AWS_*, LAMBDA_*)", name, "rename it")
        elif name in CREDENTIAL_ENV:
            c.fail(
                key,
                "would carry a credential: a secret never goes in an environment variable",
                name,
                "read it from Secrets Manager (database = true gives DB_SECRET_ARN)",
            )
        elif name in PROGRAM_ENV:
            c.fail(
                key,
                "is set by the program (docs/contracts.md section 3)"
                + ("" if database else ": declare database = true for the DB_* variables"),
                name,
                "remove it",
            )
        elif not isinstance(value, str):
            c.fail(key, "must be a string", value, f'{name} = "{value}"')
        else:
            c.references(key, value)
            out.append((name, value))
    return tuple(out)


def _iam(c: _Checker, table: Mapping[str, Any]) -> tuple[IamStatement, ...]:
    items = table.get("iam", [])
    if not isinstance(items, list):
        c.fail("iam", "must be an array of tables", items, "[[...function.iam]]")
        return ()
    out = []
    for i, item in enumerate(items):
        key = f"iam[{i}]"
        if not isinstance(item, Mapping):
            c.fail(key, "must be a table with actions and resources", item, "[[...function.iam]]")
            continue
        sub = _Checker(f"{c.where} {key}")
        sub.unknown_keys(item, _IAM_KEYS)
        actions, resources = item.get("actions"), item.get("resources")
        if (
            not isinstance(actions, list)
            or not actions
            or not all(isinstance(a, str) and ACTION.fullmatch(a) for a in actions)
        ):
            sub.fail(
                "actions",
                "must name each action exactly as service:Action, no wildcard (least privilege)",
                actions,
                'actions = ["ecr:DescribeImages"]',
            )
        if (
            not isinstance(resources, list)
            or not resources
            or not all(isinstance(r, str) and r for r in resources)
        ):
            sub.fail(
                "resources",
                "must be a non-empty array of ARNs (or ${references})",
                resources,
                'resources = ["${ecr-repository.arn}"]',
            )
        else:
            for resource in resources:
                sub.references("resources", resource)
        c.problems += sub.problems
        if not sub.problems and isinstance(actions, list) and isinstance(resources, list):
            out.append(IamStatement(tuple(actions), tuple(resources)))
    return tuple(out)


def parse_function(name: str, table: Any, where: str, *, package: str = "") -> FunctionDeclaration:
    """A function declaration from its table; DeclarationError with every problem."""
    c = _Checker(where)
    if not NAME.fullmatch(name):
        c.fail(
            "bin",
            "the function's name (its binary's) must be [a-z][a-z0-9-]*, at most 32 characters",
            name,
            "rename the [[bin]] target",
        )
    if not isinstance(table, Mapping):
        raise DeclarationError(
            [f"{where}: must be a table, got {table!r}; fix: see docs/adopting.md"]
        )
    c.unknown_keys(table, _FUNCTION_KEYS)
    trigger = _trigger(c, table)
    memory = c.integer(table, "memory", 128, 10240, DEFAULT_MEMORY_MB)
    api = trigger.kind in API_TRIGGERS
    timeout = c.integer(
        table,
        "timeout",
        1,
        29 if api else 900,
        DEFAULT_TIMEOUT_S,
        why=" (API Gateway's integration limit)" if api else "",
    )
    reserved = table.get("reserved-concurrency")
    if reserved is not None and (
        isinstance(reserved, bool) or not isinstance(reserved, int) or reserved < 1
    ):
        c.fail(
            "reserved-concurrency",
            "must be a positive number of executions (0 would throttle every invocation)",
            reserved,
            "remove it for unreserved concurrency",
        )
        reserved = None
    architecture = table.get("architecture")
    if architecture is not None and architecture not in ARCHITECTURES:
        c.fail("architecture", "must be x86_64 or arm64", architecture, 'architecture = "x86_64"')
        architecture = None
    database = c.boolean(table, "database", False)
    vpc = c.boolean(table, "vpc", database)
    if database and not vpc:
        c.fail(
            "vpc",
            "must be true with database = true: the database is only reachable in the VPC",
            vpc,
            "remove vpc",
        )
    if trigger.kind == "migration" and not database:
        c.fail("database", "must be true for trigger migration", database, "database = true")
    tracing = table.get("tracing")
    if tracing is not None and tracing not in TRACING:
        c.fail("tracing", "must be Active or PassThrough", tracing, 'tracing = "Active"')
        tracing = None
    env = _env(c, table, database)
    iam = _iam(c, table)
    if c.problems:
        raise DeclarationError(c.problems)
    return FunctionDeclaration(
        name=name,
        trigger=trigger,
        memory=memory,
        timeout=timeout,
        reserved_concurrency=reserved,
        architecture=architecture,
        database=database,
        vpc=vpc,
        tracing=tracing,
        env=env,
        iam=iam,
        package=package,
    )


def function_from_json(name: str, doc: Any, where: str) -> FunctionDeclaration:
    """A declaration as the manifest records it (the same keys and rules as Cargo.toml)."""
    return parse_function(name, doc, where)


def parse_service(name: str, table: Any, where: str, *, package: str = "") -> ServiceDeclaration:
    if not isinstance(table, Mapping):
        raise DeclarationError(
            [f"{where}: must be a table, got {table!r}; fix: see docs/adopting.md"]
        )
    c = _Checker(where)
    c.unknown_keys(table, _SERVICE_KEYS)
    port = c.integer(table, "port", 1024, 65535, 8080)
    if c.problems:
        raise DeclarationError(c.problems)
    return ServiceDeclaration(name=name, port=port, package=package)


def validate_set(
    functions: Mapping[str, FunctionDeclaration], service: ServiceDeclaration | None, where: str
) -> None:
    """The rules between declarations; DeclarationError with every problem."""
    problems = []
    by_trigger: dict[str, list[str]] = {}
    for fn in functions.values():
        by_trigger.setdefault(fn.trigger.kind, []).append(fn.name)
    for kind in ("api", "api-authorizer", "migration"):
        names = sorted(by_trigger.get(kind, []))
        if len(names) > 1:
            problems.append(
                f"{where}: at most one function may have trigger {kind}, got {', '.join(names)}; "
                "fix: give the others another trigger"
            )
    if by_trigger.get("api") and not by_trigger.get("api-authorizer"):
        problems.append(
            f"{where}: the api function {by_trigger['api'][0]} needs a function with trigger "
            "api-authorizer, got none; fix: declare the TOKEN authorizer (every route is behind it)"
        )
    if by_trigger.get("api-authorizer") and not by_trigger.get("api"):
        problems.append(
            f"{where}: the authorizer {by_trigger['api-authorizer'][0]} has no api function to "
            "guard, got none; fix: declare a function with trigger api, or trigger none"
        )
    database = sorted(fn.name for fn in functions.values() if fn.database)
    if database and not by_trigger.get("migration"):
        problems.append(
            f"{where}: functions {', '.join(database)} use the database, but no function has "
            "trigger migration, got none; fix: declare the migrate function (it creates the "
            "runtime role whose secret they read)"
        )
    if service is not None and service.name in functions:
        problems.append(
            f"{where}: {service.name} is declared both as a function and as the service; fix: "
            "keep one"
        )
    if service is None:
        for fn in functions.values():
            for text in _declared_strings(fn):
                if "${ecr-repository." in text:
                    problems.append(
                        f"{where}: function {fn.name} names ${{ecr-repository...}}, but no "
                        "crate declares the service, got none; fix: declare "
                        f"[{SERVICE_TABLE}] on the server's crate"
                    )
                    break
    if problems:
        raise DeclarationError(problems)


def _declared_strings(fn: FunctionDeclaration) -> Iterator[str]:
    yield from (value for _, value in fn.env)
    for statement in fn.iam:
        yield from statement.resources
    if fn.trigger.pattern is not None:
        yield from _strings_in(fn.trigger.pattern)


def _single_bin(package: Mapping[str, Any], chosen: Any, c: _Checker) -> str | None:
    bins = sorted(t["name"] for t in package.get("targets", []) if "bin" in t.get("kind", []))
    if chosen is not None:
        if chosen not in bins:
            c.fail(
                "bin",
                f"must name a binary of the crate ({', '.join(bins) or 'none'})",
                chosen,
                "fix the name",
            )
            return None
        return str(chosen)
    if len(bins) != 1:
        c.fail(
            "bin",
            "the crate has "
            + ("no binary" if not bins else f"several binaries ({', '.join(bins)})")
            + ": say which one this declares",
            None,
            'bin = "<name>" (or add a [[bin]] target)',
        )
        return None
    return bins[0]


def _tables(
    package: Mapping[str, Any], ours: Mapping[str, Any], path: str, c: _Checker
) -> Iterator[tuple[str, str | None, Any, str]]:
    """(kind, binary name or None, table, where) for each declaration of one crate.

    A crate with one binary declares it as `[package.metadata.rust-on-aws.function]` (or
    `.service`); a crate with several declares each as
    `[package.metadata.rust-on-aws.bin.<name>.function]`, like cargo-lambda's
    `[package.metadata.lambda.bin.<name>]`.
    """
    c.unknown_keys(ours, ("function", "service", "bin"))
    for kind, table_name in (("function", FUNCTION_TABLE), ("service", SERVICE_TABLE)):
        if kind in ours:
            yield kind, None, ours[kind], f"{path} [{table_name}]"
    per_bin = ours.get("bin", {})
    if not isinstance(per_bin, Mapping):
        c.fail(
            "bin",
            "must be a table of binary names",
            per_bin,
            "[package.metadata.rust-on-aws.bin.<name>.function]",
        )
        return
    bins = {t["name"] for t in package.get("targets", []) if "bin" in t.get("kind", [])}
    for name, tables in per_bin.items():
        where = f"{path} [package.metadata.rust-on-aws.bin.{name}]"
        if name not in bins:
            c.fail(
                f"bin.{name}",
                f"names no binary of the crate ({', '.join(sorted(bins)) or 'none'})",
                name,
                "fix the name",
            )
            continue
        if not isinstance(tables, Mapping):
            c.fail(
                f"bin.{name}",
                "must be a table with function or service",
                tables,
                "see docs/adopting.md",
            )
            continue
        sub = _Checker(where)
        sub.unknown_keys(tables, ("function", "service"))
        c.problems += sub.problems
        for kind in ("function", "service"):
            if kind in tables:
                yield kind, name, tables[kind], f"{where.rstrip(']')}.{kind}]"


def _package(
    package: Mapping[str, Any],
) -> tuple[list[FunctionDeclaration], list[ServiceDeclaration], list[str]]:
    """The declarations of one crate of `cargo metadata`, and its problems."""
    ours = (package.get("metadata") or {}).get("rust-on-aws")
    path = str(package.get("manifest_path", package.get("name")))
    if ours is None:
        return [], [], []
    if not isinstance(ours, Mapping):
        return (
            [],
            [],
            [f"{path} [package.metadata.rust-on-aws]: must be a table; fix: see docs/adopting.md"],
        )
    c = _Checker(f"{path} [package.metadata.rust-on-aws]")
    functions: list[FunctionDeclaration] = []
    services: list[ServiceDeclaration] = []
    problems: list[str] = []
    for kind, binary, table, where in list(_tables(package, ours, path, c)):
        name = binary
        if name is None:
            picker = _Checker(where)
            chosen = table.get("bin") if isinstance(table, Mapping) else None
            name = _single_bin(package, chosen, picker)
            problems += picker.problems
            if name is None:
                continue
        declared = (
            {k: v for k, v in table.items() if k != "bin"} if isinstance(table, Mapping) else table
        )
        try:
            if kind == "function":
                functions.append(
                    parse_function(name, declared, where, package=str(package["name"]))
                )
            else:
                services.append(parse_service(name, declared, where, package=str(package["name"])))
        except DeclarationError as exc:
            problems += exc.problems
    return functions, services, c.problems + problems


def from_cargo_metadata(
    metadata: Mapping[str, Any],
) -> tuple[dict[str, FunctionDeclaration], ServiceDeclaration | None]:
    """Every declaration of a workspace, from `cargo metadata --format-version 1 --no-deps`.

    Returns (functions by name, the service or None); DeclarationError with every problem of
    every crate, then the rules between them.
    """
    root = str(metadata.get("workspace_root", "the workspace"))
    problems: list[str] = []
    functions: dict[str, FunctionDeclaration] = {}
    services: list[ServiceDeclaration] = []
    for package in sorted(metadata.get("packages", []), key=lambda p: str(p.get("name"))):
        declared, served, found = _package(package)
        problems += found
        for fn in declared:
            if fn.name in functions:
                problems.append(
                    f"{package.get('manifest_path')}: function {fn.name} is declared twice; "
                    "fix: rename one binary"
                )
            functions[fn.name] = fn
        services += served
    if len(services) > 1:
        problems.append(
            f"{root}: at most one crate may declare the service, got "
            f"{', '.join(s.package for s in services)}; fix: keep one"
        )
    if not problems and not functions and not services:
        problems.append(
            f"{root}: no crate declares a function or the service, got none; fix: add "
            f"[{FUNCTION_TABLE}] to a binary crate's Cargo.toml (docs/adopting.md)"
        )
    service = services[0] if services else None
    if not problems:
        try:
            validate_set(functions, service, root)
        except DeclarationError as exc:
            problems += exc.problems
    if problems:
        raise DeclarationError(problems)
    return functions, service


def references(text: str) -> list[str | tuple[str]]:
    """`text` split into literal parts and `(reference,)` parts, in order."""
    parts: list[str | tuple[str]] = []
    position = 0
    for match in _PLACEHOLDER.finditer(text):
        if match.start() > position:
            parts.append(text[position : match.start()])
        parts.append((match.group(1),))
        position = match.end()
    if position < len(text):
        parts.append(text[position:])
    return parts


def resolve(value: Any, lookup: Callable[[str], Any], join: Callable[[Iterable[Any]], Any]) -> Any:
    """`value` (a string, or tables and arrays of them) with each `${reference}` replaced by
    `lookup(reference)`; a string of several parts becomes `join(parts)`."""
    if isinstance(value, str):
        parts = [lookup(p[0]) if isinstance(p, tuple) else p for p in references(value)]
        if len(parts) == 1:
            return parts[0]
        return join(parts) if parts else ""
    if isinstance(value, Mapping):
        return {k: resolve(v, lookup, join) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve(v, lookup, join) for v in value]
    return value
