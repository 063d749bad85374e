"""The one place configuration is read: Pulumi config -> a frozen, validated `Settings`.

Every key is declared in `Pulumi.yaml` (type, description, default); that block is the single
source of defaults. `load_settings` reads the declarations, takes each value from the stack's
config or else the declared default, checks types and every rule below, and raises one
`ConfigError` listing every problem (one line each: key, rule, actual value, fix) before any
resource is created.
"""

from __future__ import annotations

from components.settings.api import ApiSettings
from components.settings.database import DatabaseSettings
from components.settings.domains import Domain, DomainSettings
from components.settings.events import EventSettings
from components.settings.functions import LambdaSettings, resolve_functions
from components.settings.load import Settings, load_settings
from components.settings.monitoring import MonitoringSettings, Thresholds
from components.settings.network import NetworkSettings
from components.settings.reader import (
    ARCHITECTURES,
    FARGATE_MEMORY,
    LAMBDA_RUNTIMES,
    LOG_RETENTION_DAYS,
    PROJECT,
    PROJECT_FILE,
    ROOT,
    SSL_MODES,
    ConfigError,
    KeySpec,
    load_schema,
)
from components.settings.rollout import RolloutSettings
from components.settings.service import ServiceSettings
from declarations.schedule import schedule_problem

__all__ = [
    "ARCHITECTURES",
    "FARGATE_MEMORY",
    "LAMBDA_RUNTIMES",
    "LOG_RETENTION_DAYS",
    "PROJECT",
    "PROJECT_FILE",
    "ROOT",
    "SSL_MODES",
    "ApiSettings",
    "ConfigError",
    "DatabaseSettings",
    "Domain",
    "DomainSettings",
    "EventSettings",
    "KeySpec",
    "LambdaSettings",
    "MonitoringSettings",
    "NetworkSettings",
    "RolloutSettings",
    "ServiceSettings",
    "Settings",
    "Thresholds",
    "load_schema",
    "load_settings",
    "resolve_functions",
    "schedule_problem",
]
