"""The one place configuration is read: Pulumi config -> a frozen, validated `Settings`.

Every key is declared in `Pulumi.yaml` (type, description, default); that block is the single
source of defaults. `load_settings` reads the declarations, takes each value from the stack's
config or else the declared default, checks types and every rule below, and raises one
`ConfigError` listing every problem (one line each: key, rule, actual value, fix) before any
resource is created.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from components.settings.api import ApiSettings, read_api
from components.settings.database import DatabaseSettings, read_database
from components.settings.domains import DomainSettings, read_domains
from components.settings.events import EventSettings, read_events
from components.settings.functions import PREFIX as FUNCTION_PREFIX
from components.settings.functions import LambdaSettings, read_functions
from components.settings.monitoring import MonitoringSettings, read_monitoring
from components.settings.network import NetworkSettings, read_network
from components.settings.reader import (
    ARCHITECTURES,
    LAMBDA_RUNTIMES,
    LOG_RETENTION_DAYS,
    PROJECT,
    PROJECT_FILE,
    ConfigError,
    Reader,
    load_schema,
)
from components.settings.rollout import RolloutSettings, read_rollout
from components.settings.service import ServiceSettings, read_service


@dataclass(frozen=True, kw_only=True)
class Settings:
    """Everything the program reads from config, validated."""

    stack: str
    prefix: str
    """Prefix of every resource name: `rust-on-aws-<stack>`."""
    production: bool
    manifest_path: Path
    architecture: Literal["x86_64", "arm64"]
    lambda_runtime: str
    protect: bool
    log_retention_days: int
    rust_log: str
    network: NetworkSettings
    database: DatabaseSettings
    service: ServiceSettings
    lambdas: LambdaSettings
    api: ApiSettings
    events: EventSettings
    domains: DomainSettings
    monitoring: MonitoringSettings
    rollout: RolloutSettings


def _unknown_keys(r: Reader, configured: Iterable[str]) -> None:
    """A `rust-on-aws:` key the project does not declare is a typo: it would be ignored."""
    for full in sorted(configured):
        if not full.startswith(f"{PROJECT}:"):
            continue
        key = full.split(":", 1)[1]
        if key in r.schema or key.startswith(FUNCTION_PREFIX):
            continue  # function.* keys: read_functions checks them
        near = difflib.get_close_matches(key, list(r.schema), n=1)
        hint = f"did you mean {near[0]}? " if near else ""
        r.errors.append(
            f"{full}: not a key Pulumi.yaml declares, got {r.raw(key)!r}; "
            f"fix: {hint}pulumi config rm {key} -s {r.stack}"
        )


def _runtime_keys() -> set[str]:
    from pulumi.runtime import config  # noqa: PLC0415 - only the program's default path

    return set(config.CONFIG.get()) | set(config.get_config_env())


def load_settings(
    raw: Callable[[str], str | None] | None = None,
    *,
    stack: str | None = None,
    configured: Iterable[str] | None = None,
    project_file: Path = PROJECT_FILE,
) -> Settings:
    """Read and validate every key; raise one ConfigError listing all problems.

    `raw(key)` returns the stack's value of `rust-on-aws:<key>` as the Pulumi engine passes it
    (a string; arrays as JSON) or None when unset; by default it is `pulumi.Config().get`.
    `configured` lists the stack's full config keys, to reject undeclared (misspelt) ones; by
    default, with `raw` unset, the keys the Pulumi runtime holds.
    """
    if raw is None or stack is None:
        import pulumi  # noqa: PLC0415 - only the program's default path needs the runtime

        if raw is None:
            raw = pulumi.Config(PROJECT).get
            configured = _runtime_keys() if configured is None else configured
        stack = stack if stack is not None else pulumi.get_stack()
    r = Reader(raw, load_schema(project_file), stack)
    _unknown_keys(r, configured or ())

    production = r.choice("environment", ("development", "production")) == "production"
    manifest = r.string("manifestPath", "dist/manifest.json")
    architecture = r.choice("architecture", ARCHITECTURES)
    runtime = r.choice("lambdaRuntime", LAMBDA_RUNTIMES)
    protect = r.boolean("protectStateful")
    retention = r.integer("logRetentionDays", 1, 3653, "days")
    if retention not in LOG_RETENTION_DAYS:
        r.fail(
            "logRetentionDays",
            "must be one of CloudWatch's retention periods "
            f"({', '.join(map(str, LOG_RETENTION_DAYS))})",
            retention,
            r.set_fix("logRetentionDays", 14),
        )
    rust_log = r.string("rustLog", "info")
    if not rust_log.strip():
        r.fail("rustLog", "must not be empty", rust_log, r.set_fix("rustLog", "info"))
    network = read_network(r)
    database = read_database(r, production, protect)
    service = read_service(r)
    lambdas = read_functions(r, configured or ())
    api = read_api(r)
    events = read_events(r)
    domains = read_domains(r, production)
    monitoring = read_monitoring(r, database)
    rollout = read_rollout(r)
    if r.errors:
        raise ConfigError(stack, r.errors)
    return Settings(
        stack=stack,
        prefix=f"{PROJECT}-{stack}",
        production=production,
        manifest_path=Path(manifest),
        architecture=architecture,  # type: ignore[arg-type]
        lambda_runtime=runtime,
        protect=protect,
        log_retention_days=retention,
        rust_log=rust_log,
        network=network,
        database=database,
        service=service,
        lambdas=lambdas,
        api=api,
        events=events,
        domains=domains,
        monitoring=monitoring,
        rollout=rollout,
    )
