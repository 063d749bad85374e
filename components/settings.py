"""The one place configuration is read: Pulumi config -> a frozen, validated `Settings`.

Every key is declared in `Pulumi.yaml` (type, description, default); that block is the single
source of defaults. `load_settings` reads the declarations, takes each value from the stack's
config or else the declared default, checks types and every rule below, and raises one
`ConfigError` listing every problem (one line each: key, rule, actual value, fix) before any
resource is created.
"""

from __future__ import annotations

import difflib
import ipaddress
import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml

from components.service import ACM_ARN

PROJECT = "rust-on-aws"
ROOT = Path(__file__).resolve().parent.parent
PROJECT_FILE = ROOT / "Pulumi.yaml"

#: CloudWatch Logs' allowed retention periods, in days (PutRetentionPolicy).
LOG_RETENTION_DAYS = (
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922,
    3288, 3653,
)  # fmt: skip
ARCHITECTURES = ("x86_64", "arm64")
LAMBDA_RUNTIMES = ("provided.al2023", "provided.al2")
SSL_MODES = ("require", "verify-ca", "verify-full")
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


@dataclass(frozen=True, kw_only=True)
class NetworkSettings:
    mode: Literal["new", "existing"]
    cidr: str
    az_count: int
    nat_gateways: int
    existing_vpc_id: str
    existing_public_subnet_ids: tuple[str, ...]
    existing_private_subnet_ids: tuple[str, ...]


@dataclass(frozen=True, kw_only=True)
class DatabaseSettings:
    mode: Literal["managed", "external"]
    name: str
    username: str
    engine_version: str
    instance_class: str
    allocated_storage_gb: int
    max_allocated_storage_gb: int
    multi_az: bool
    backup_retention_days: int
    deletion_protection: bool
    ssl_mode: str
    external_host: str
    external_port: int
    external_secret_arn: str


@dataclass(frozen=True, kw_only=True)
class ServiceSettings:
    cpu: int
    memory_mb: int
    desired_count: int
    min_count: int
    max_count: int
    cpu_target_percent: int
    migrate_on_start: bool
    certificate_arn: str | None


@dataclass(frozen=True, kw_only=True)
class LambdaSettings:
    memory_mb: int
    api_timeout_seconds: int
    event_timeout_seconds: int
    handler_reserved_concurrency: int | None
    token_retention_days: int
    command_retention_days: int


@dataclass(frozen=True, kw_only=True)
class ApiSettings:
    routes_path: Path
    stage_name: str
    throttle_rate_limit: int
    throttle_burst_limit: int
    authorizer_cache_ttl_seconds: int
    manage_account_logging_role: bool


@dataclass(frozen=True, kw_only=True)
class EventSettings:
    schedule_expression: str
    retry_attempts: int
    max_age_seconds: int
    ecr_keep_images: int


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


class _Reader:
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

    def strings(self, key: str) -> tuple[str, ...]:
        spec, value = self._value(key)
        assert spec.type == "array", key
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except json.JSONDecodeError:
                value = None
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            self.fail(key, "must be a list of strings", value, self.set_fix(key, ["subnet-0abc"]))
            return ()
        return tuple(value)

    def choice(self, key: str, allowed: Sequence[str]) -> str:
        value = self.string(key, allowed[0])
        if value and value not in allowed:
            self.fail(
                key, f"must be one of {', '.join(allowed)}", value, self.set_fix(key, allowed[0])
            )
        return value


_RATE = re.compile(r"rate\((?P<n>[0-9]+) (?P<unit>minute|minutes|hour|hours|day|days)\)")
_CRON_FIELDS = (
    # name, low, high, names, extra single tokens allowed
    ("minutes", 0, 59, (), ()),
    ("hours", 0, 23, (), ()),
    ("day-of-month", 1, 31, (), ("?", "L", "W")),
    (
        "month",
        1,
        12,
        ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"),
        (),
    ),
    ("day-of-week", 1, 7, ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"), ("?", "L")),
    ("year", 1970, 2199, (), ()),
)


def _cron_value(token: str, lo: int, hi: int, names: Sequence[str]) -> bool:
    if token.upper() in names:
        return True
    return token.isdigit() and lo <= int(token) <= hi


def _cron_field_ok(
    field: str, lo: int, hi: int, names: Sequence[str], extra: Sequence[str]
) -> bool:
    if field in ("*", *extra):
        return True
    for item in field.split(","):
        base, _, step = item.partition("/")
        if step and not (step.isdigit() and int(step) > 0):
            return False
        if base == "*" and step:
            continue
        if lo == 1 and hi == 31 and re.fullmatch(r"[0-9]{1,2}W", base):  # nearest weekday
            base = base[:-1]
        if lo == 1 and hi == 7 and re.fullmatch(r"[1-7](#[1-5]|L)", base):  # nth / last weekday
            continue
        first, _, last = base.partition("-")
        if not _cron_value(first, lo, hi, names) or (last and not _cron_value(last, lo, hi, names)):
            return False
    return True


def _rate_problem(expression: str) -> str | None:
    match = _RATE.fullmatch(expression)
    if not match:
        return "must be rate(<positive integer> minute(s)|hour(s)|day(s))"
    n, unit = int(match["n"]), match["unit"]
    if n == 0:
        return "the rate value must be positive"
    if (n == 1) == unit.endswith("s"):
        return "the rate unit must be singular for 1 and plural otherwise"
    return None


def _cron_problem(expression: str) -> str | None:
    fields = expression[5:-1].split()
    if len(fields) != 6:
        return "cron takes six fields (minutes hours day-of-month month day-of-week year)"
    for value, (name, lo, hi, names, extra) in zip(fields, _CRON_FIELDS, strict=True):
        if not _cron_field_ok(value, lo, hi, names, extra):
            return f"cron field {name} {value!r} is not valid ({lo}..{hi}, , - * /)"
    if (fields[2] == "?") == (fields[4] == "?"):
        return "exactly one of day-of-month and day-of-week must be ?"
    return None


def schedule_problem(expression: str) -> str | None:
    """Why `expression` is not a valid EventBridge schedule expression, or None if it is.

    rate(N unit): N a positive integer, unit minute(s)/hour(s)/day(s), singular exactly when N is 1.
    cron(min hour day-of-month month day-of-week year): six fields; one of day-of-month and
    day-of-week must be `?`.
    """
    if expression.startswith("rate("):
        return _rate_problem(expression)
    if expression.startswith("cron(") and expression.endswith(")"):
        return _cron_problem(expression)
    return "must be rate(...) or cron(...)"


def _private_cidr(cidr: str) -> bool:
    try:
        net = ipaddress.IPv4Network(cidr, strict=True)
    except ValueError:
        return False
    return net.is_private and 16 <= net.prefixlen <= 24


_VPC_ID = re.compile(r"vpc-[0-9a-f]{8,17}")
_SUBNET_ID = re.compile(r"subnet-[0-9a-f]{8,17}")
_SECRET_ARN = re.compile(r"arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:[0-9]{12}:secret:.+")


def _network(r: _Reader) -> NetworkSettings:
    fix = r.set_fix
    mode = r.choice("vpcMode", ("new", "existing"))
    cidr = r.string("vpcCidr", "10.0.0.0/16")
    az_count = r.integer("availabilityZoneCount", 2, 3, "zones")
    nat = r.integer("natGateways", 1, 3, "gateways")
    vpc_id = r.string("existingVpcId", "vpc-0abc")
    public_ids = r.strings("existingPublicSubnetIds")
    private_ids = r.strings("existingPrivateSubnetIds")
    if mode == "new":
        if not _private_cidr(cidr):
            r.fail(
                "vpcCidr",
                "must be a private IPv4 network of /16 to /24",
                cidr,
                fix("vpcCidr", "10.0.0.0/16"),
            )
        if nat > az_count:
            r.fail(
                "natGateways",
                f"must be at most availabilityZoneCount ({az_count}): one NAT per AZ at most",
                nat,
                fix("natGateways", az_count),
            )
    elif mode == "existing":
        if not _VPC_ID.fullmatch(vpc_id):
            r.fail(
                "existingVpcId",
                "vpcMode existing needs a VPC id vpc-<hex>",
                vpc_id,
                fix("existingVpcId", "vpc-0123456789abcdef0"),
            )
        for key, ids in (
            ("existingPublicSubnetIds", public_ids),
            ("existingPrivateSubnetIds", private_ids),
        ):
            if len(ids) < 2 or not all(_SUBNET_ID.fullmatch(i) for i in ids):
                r.fail(
                    key,
                    "vpcMode existing needs at least two subnet ids subnet-<hex> in two AZs",
                    list(ids),
                    fix(key, ["subnet-0aaa1111", "subnet-0bbb2222"]),
                )
    return NetworkSettings(
        mode=mode,  # type: ignore[arg-type]
        cidr=cidr,
        az_count=az_count,
        nat_gateways=nat,
        existing_vpc_id=vpc_id,
        existing_public_subnet_ids=public_ids,
        existing_private_subnet_ids=private_ids,
    )


def _database(r: _Reader, production: bool, protect: bool) -> DatabaseSettings:
    fix = r.set_fix
    mode = r.choice("databaseMode", ("managed", "external"))
    name = r.matching("dbName", "app", r"[a-z][a-z0-9_]{0,62}", "must match [a-z][a-z0-9_]{0,62}")
    user = r.string("dbUsername", "app")
    if not re.fullmatch(r"[a-z][a-z0-9_]{0,15}", user) or user in ("postgres", "rdsadmin"):
        r.fail(
            "dbUsername",
            "must match [a-z][a-z0-9_]{0,15} and not be postgres or rdsadmin",
            user,
            fix("dbUsername", "app"),
        )
    version = r.matching(
        "dbEngineVersion",
        "16",
        r"1[3-9](\.[0-9]+)?",
        "must be PostgreSQL 13..19 (major or major.minor)",
    )
    instance_class = r.matching(
        "dbInstanceClass",
        "db.t4g.micro",
        r"db\.[a-z0-9-]+\.[a-z0-9]+",
        "must be an RDS instance class db.<family>.<size>",
    )
    storage = r.integer("dbAllocatedStorageGb", 20, 65536, "GiB")
    max_storage = r.integer("dbMaxAllocatedStorageGb", 20, 65536, "GiB")
    if max_storage < storage:
        r.fail(
            "dbMaxAllocatedStorageGb",
            f"must be at least dbAllocatedStorageGb ({storage})",
            max_storage,
            fix("dbMaxAllocatedStorageGb", storage),
        )
    multi_az = r.boolean("dbMultiAz")
    backups = r.integer("dbBackupRetentionDays", 0, 35, "days")
    deletion_protection = r.boolean("dbDeletionProtection")
    ssl_mode = r.choice("dbSslMode", SSL_MODES)
    host = r.string("externalDbHost", "db.example.internal")
    port = r.integer("externalDbPort", 1, 65535, "TCP port")
    secret = r.string("externalDbSecretArn", "arn:aws:secretsmanager:...")
    if mode == "external":
        if not re.fullmatch(r"[A-Za-z0-9.-]{1,253}", host):
            r.fail(
                "externalDbHost",
                "databaseMode external needs the database host name",
                host,
                fix("externalDbHost", "db.example.internal"),
            )
        if not _SECRET_ARN.fullmatch(secret):
            r.fail(
                "externalDbSecretArn",
                "databaseMode external needs a Secrets Manager secret ARN",
                secret,
                fix(
                    "externalDbSecretArn",
                    "arn:aws:secretsmanager:eu-west-1:123456789012:secret:db-AbCdEf",
                ),
            )
    if production and mode == "managed":
        if not deletion_protection:
            r.fail(
                "dbDeletionProtection",
                "must be true when environment is production",
                deletion_protection,
                fix("dbDeletionProtection", "true"),
            )
        if backups < 7:
            r.fail(
                "dbBackupRetentionDays",
                "must be at least 7 when environment is production",
                backups,
                fix("dbBackupRetentionDays", 7),
            )
    if production and not protect:
        r.fail(
            "protectStateful",
            "must be true when environment is production",
            protect,
            fix("protectStateful", "true"),
        )
    return DatabaseSettings(
        mode=mode,  # type: ignore[arg-type]
        name=name,
        username=user,
        engine_version=version,
        instance_class=instance_class,
        allocated_storage_gb=storage,
        max_allocated_storage_gb=max_storage,
        multi_az=multi_az,
        backup_retention_days=backups,
        deletion_protection=deletion_protection,
        ssl_mode=ssl_mode,
        external_host=host,
        external_port=port,
        external_secret_arn=secret,
    )


def _service(r: _Reader) -> ServiceSettings:
    fix = r.set_fix
    cpu = r.integer("serviceCpu", 256, 16384, "CPU units")
    memory = r.integer("serviceMemoryMb", 512, 122880, "MiB")
    if cpu not in FARGATE_MEMORY:
        sizes = ", ".join(map(str, FARGATE_MEMORY))
        r.fail("serviceCpu", f"must be a Fargate CPU size ({sizes})", cpu, fix("serviceCpu", 256))
    elif memory not in FARGATE_MEMORY[cpu]:
        allowed = FARGATE_MEMORY[cpu]
        r.fail(
            "serviceMemoryMb",
            f"must be a Fargate memory size for serviceCpu {cpu} "
            f"({allowed[0]}..{allowed[-1]} in steps of {allowed[1] - allowed[0]})",
            memory,
            fix("serviceMemoryMb", allowed[0]),
        )
    desired = r.integer("serviceDesiredCount", 0, 1000, "tasks")
    min_count = r.integer("serviceMinCount", 0, 1000, "tasks")
    max_count = r.integer("serviceMaxCount", 1, 1000, "tasks")
    if min_count > max_count:
        r.fail(
            "serviceMinCount",
            f"must be at most serviceMaxCount ({max_count})",
            min_count,
            fix("serviceMinCount", max_count),
        )
    elif not min_count <= desired <= max_count:
        r.fail(
            "serviceDesiredCount",
            f"must be within serviceMinCount..serviceMaxCount ({min_count}..{max_count})",
            desired,
            fix("serviceDesiredCount", min_count),
        )
    certificate = r.string("serviceCertificateArn", "")
    if certificate and not ACM_ARN.fullmatch(certificate):
        r.fail(
            "serviceCertificateArn",
            "must be an ACM certificate ARN (arn:aws:acm:<region>:<account>:certificate/<uuid>) "
            "or empty for HTTP only",
            certificate,
            r.set_fix("serviceCertificateArn", "arn:aws:acm:<region>:<account>:certificate/<uuid>"),
        )
    return ServiceSettings(
        cpu=cpu,
        memory_mb=memory,
        desired_count=desired,
        min_count=min_count,
        max_count=max_count,
        cpu_target_percent=r.integer("serviceCpuTargetPercent", 10, 90, "percent"),
        migrate_on_start=r.boolean("serviceMigrateOnStart"),
        certificate_arn=certificate or None,
    )


def _lambdas(r: _Reader) -> LambdaSettings:
    memory = r.integer("lambdaMemoryMb", 128, 10240, "MiB")
    api_timeout = r.integer("apiTimeoutSeconds", 1, 29, "seconds")
    event_timeout = r.integer("eventTimeoutSeconds", 1, 900, "seconds")
    reserved = r.integer("handlerReservedConcurrency", -1, 100000, "executions; -1 unreserved")
    if reserved == 0:
        r.fail(
            "handlerReservedConcurrency",
            "0 would throttle every request; use -1 for unreserved or a positive number",
            reserved,
            r.set_fix("handlerReservedConcurrency", -1),
        )
    return LambdaSettings(
        memory_mb=memory,
        api_timeout_seconds=api_timeout,
        event_timeout_seconds=event_timeout,
        handler_reserved_concurrency=None if reserved == -1 else reserved,
        token_retention_days=r.integer("tokenRetentionDays", 1, 3650, "days"),
        command_retention_days=r.integer("commandRetentionDays", 1, 3650, "days"),
    )


def _api(r: _Reader) -> ApiSettings:
    routes_path = r.string("routesPath", "app/routes.json")
    stage = r.matching("apiStageName", "v1", r"[A-Za-z0-9_]{1,64}", "must match [A-Za-z0-9_]{1,64}")
    rate = r.integer("apiThrottleRateLimit", 1, 10000, "requests per second")
    burst = r.integer("apiThrottleBurstLimit", 1, 5000, "requests")
    if burst < min(rate, 5000):
        r.fail(
            "apiThrottleBurstLimit",
            f"must be at least apiThrottleRateLimit ({rate})",
            burst,
            r.set_fix("apiThrottleBurstLimit", min(rate, 5000)),
        )
    return ApiSettings(
        routes_path=Path(routes_path),
        stage_name=stage,
        throttle_rate_limit=rate,
        throttle_burst_limit=burst,
        authorizer_cache_ttl_seconds=r.integer("authorizerCacheTtlSeconds", 0, 3600, "seconds"),
        manage_account_logging_role=r.boolean("apiGatewayAccountLogging"),
    )


def _events(r: _Reader) -> EventSettings:
    schedule = r.string("scheduleExpression", "rate(1 hour)")
    problem = schedule_problem(schedule)
    if problem:
        r.fail(
            "scheduleExpression",
            f"{problem} (EventBridge schedule syntax)",
            schedule,
            r.set_fix("scheduleExpression", "rate(1 hour)"),
        )
    return EventSettings(
        schedule_expression=schedule,
        retry_attempts=r.integer("eventRetryAttempts", 0, 185, "attempts"),
        max_age_seconds=r.integer("eventMaxAgeSeconds", 60, 86400, "seconds"),
        ecr_keep_images=r.integer("ecrKeepImages", 1, 1000, "images"),
    )


def _unknown_keys(r: _Reader, configured: Iterable[str]) -> None:
    """A `rust-on-aws:` key the project does not declare is a typo: it would be ignored."""
    for full in sorted(configured):
        if not full.startswith(f"{PROJECT}:"):
            continue
        key = full.split(":", 1)[1]
        if key in r.schema:
            continue
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
    r = _Reader(raw, load_schema(project_file), stack)
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
    network = _network(r)
    database = _database(r, production, protect)
    service = _service(r)
    lambdas = _lambdas(r)
    api = _api(r)
    events = _events(r)
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
    )
