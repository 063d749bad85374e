"""rust-on-aws: the whole AWS topology of a Rust workspace, one stack per environment.

What is deployed follows the crates' own declarations (`[package.metadata.rust-on-aws.*]` in
each Cargo.toml, recorded in the artifact manifest; docs/adopting.md), not a list here:

- a VPC over two or three AZs (public subnets for the load balancer, private ones for the rest)
  or an existing VPC (components/network.py);
- RDS PostgreSQL with an AWS-managed password, or an external database (components/database.py),
  when a function declares `database = true` or a crate declares the service; and the function
  with trigger `migration`, run by `pulumi up` before any new code goes live
  (components/migration.py);
- the declared service on ECS Fargate behind an ALB, its image built and pushed to ECR
  (components/service.py);
- one Lambda per declared function (components/rust_lambda.py), in the VPC with the database's
  runtime secret only when it declares `database`;
- the REST API from app/routes.json, served by the `api` function behind the `api-authorizer`
  one (components/rest_api.py);
- one EventBridge rule per `schedule` or `event-pattern` function, with a shared dead-letter
  queue (components/event_rules.py);
- alarms on every function, the API stage, the load balancer and service, the database, the
  dead-letter queue and the rules, notifying an encrypted topic, and a dashboard of the same
  (components/monitoring.py);
- CodeDeploy deployment groups that move each function's `live` alias (all but the migration,
  whose alias moves with `pulumi up`) to the version `pulumi up` published, rolled back when its
  Errors alarm fires; `python -m rollout` starts them after `up` (components/code_deploy.py).

Configuration: Pulumi.yaml declares every key; Pulumi.<stack>.yaml sets values and may
override a function's declaration (function.<name>.<field>).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pulumi
import pulumi_aws as aws

from components.certificate import Certificate, CertificateArgs
from components.code_deploy import LambdaDeployments, LambdaDeploymentsArgs
from components.database import Database, DatabaseArgs, ExternalDatabase
from components.event_rules import EventRules, EventRulesArgs, EventTarget
from components.manifest import manifest_path, read_manifest
from components.migration import Migration, MigrationArgs
from components.monitoring import Monitoring, MonitoringArgs
from components.network import Network, NetworkArgs
from components.rest_api import ApiDomain, RestApi, RestApiArgs
from components.routes import load_routes
from components.rust_lambda import RustLambda, RustLambdaArgs
from components.service import Service, ServiceArgs, ServiceTls, image_content_tag
from components.settings import ROOT, Domain, load_settings, resolve_functions
from declarations import FunctionDeclaration, resolve

settings = load_settings()
manifest = read_manifest(
    manifest_path(settings.manifest_path, ROOT),
    runtime=settings.lambda_runtime,
    architecture=settings.architecture,
)
declared = resolve_functions(
    {name: f.declaration for name, f in manifest.functions.items()},
    settings.lambdas,
    stack=settings.stack,
)
routes = load_routes(ROOT / settings.api.routes_path)
DOCKERFILE = ROOT / "app" / "Dockerfile"
image_tag = image_content_tag(manifest.server.sha256, DOCKERFILE) if manifest.server else None
prefix = settings.prefix
tags = {"project": "rust-on-aws", "stack": settings.stack}
uses_database = manifest.server is not None or any(f.database for f in declared.values())


def _rel(path: Path) -> str:
    """Paths handed to Docker relative to the project, so plans do not depend on the checkout."""
    return path.relative_to(ROOT).as_posix() if path.is_relative_to(ROOT) else str(path)


net = settings.network
network = Network(
    f"{prefix}-network",
    NetworkArgs(
        cidr=net.cidr,
        az_count=net.az_count,
        nat_gateways=net.nat_gateways,
        existing_vpc_id=net.existing_vpc_id if net.mode == "existing" else None,
        existing_public_subnet_ids=net.existing_public_subnet_ids,
        existing_private_subnet_ids=net.existing_private_subnet_ids,
        tags=tags,
    ),
)

db = settings.database
database = (
    Database(
        f"{prefix}-db",
        DatabaseArgs(
            vpc_id=network.vpc_id,
            subnet_ids=network.private_subnet_ids,
            db_name=db.name,
            username=db.username,
            engine_version=db.engine_version,
            instance_class=db.instance_class,
            allocated_storage_gb=db.allocated_storage_gb,
            max_allocated_storage_gb=db.max_allocated_storage_gb,
            multi_az=db.multi_az,
            backup_retention_days=db.backup_retention_days,
            deletion_protection=db.deletion_protection,
            protect=settings.protect,
            app_username=db.app_username,
            external=(
                ExternalDatabase(
                    host=db.external_host,
                    port=db.external_port,
                    secret_arn=db.external_secret_arn,
                    secret_kms_key_arn=db.external_secret_kms_key_arn,
                    security_group_id=db.external_security_group_id,
                )
                if db.mode == "external"
                else None
            ),
            tags=tags,
        ),
    )
    if uses_database
    else None
)

# Every process connects over TLS verified against the RDS CA bundle the artifacts ship.
db_connection: dict[str, pulumi.Input[str]] = (
    {
        "DB_HOST": database.host,
        "DB_PORT": database.port.apply(str),
        "DB_NAME": database.db_name,
        "DB_SSLMODE": db.ssl_mode,
        "DB_SSLROOTCERT": f"/var/task/{manifest.ca_bundle_path}",
    }
    if database is not None
    else {}
)
migration = None
for artifact in manifest.triggered("migration"):
    assert database is not None  # a migration declares database = true
    step = declared[artifact.name]
    migration = Migration(
        f"{prefix}-migration",
        MigrationArgs(
            artifact=artifact,
            runtime=manifest.runtime,
            vpc_id=network.vpc_id,
            subnet_ids=network.private_subnet_ids,
            master_secret_arn=database.master_secret_arn,
            master_secret_kms_key_arn=database.master_secret_kms_key_arn,
            app_secret_arn=database.app_secret_arn,
            app_username=database.app_username,
            environment={**db_connection, "RUST_LOG": settings.rust_log},
            memory_mb=step.memory,
            timeout_seconds=step.timeout,
            log_retention_days=settings.log_retention_days,
            protect=settings.protect,
            tags=tags,
        ),
    )
    database.allow_from(artifact.name, migration.function.security_group_id)

domains = settings.domains


def certificate(label: str, domain: Domain) -> Certificate:
    """The entry point's certificate: the configured ARN, or one DNS-validated in the zone."""
    return Certificate(
        f"{prefix}-{label}-tls",
        CertificateArgs(
            domain_name=domain.name,
            certificate_arn=domain.certificate_arn,
            zone_id=domains.zone_id,
            tags=tags,
        ),
    )


svc = settings.service
service = None
if manifest.server is not None and image_tag is not None and database is not None:
    service = Service(
        f"{prefix}-server",
        ServiceArgs(
            vpc_id=network.vpc_id,
            public_subnet_ids=network.public_subnet_ids,
            private_subnet_ids=network.private_subnet_ids,
            context=_rel(manifest.server.dir),
            dockerfile=_rel(DOCKERFILE),
            image_tag=image_tag,
            architecture=settings.architecture,
            db_host=database.host,
            db_port=database.port,
            db_name=database.db_name,
            db_secret_arn=database.app_secret_arn,
            db_ssl_mode=db.ssl_mode,
            db_ssl_root_cert=f"/app/{manifest.ca_bundle_path}",
            container_port=manifest.server.port,
            deploy_after=[migration.done] if migration is not None else [],
            cpu=svc.cpu,
            memory_mb=svc.memory_mb,
            desired_count=svc.desired_count,
            min_count=svc.min_count,
            max_count=svc.max_count,
            cpu_target_percent=svc.cpu_target_percent,
            wait_for_steady_state=svc.wait_for_steady_state,
            rust_log=settings.rust_log,
            log_retention_days=settings.log_retention_days,
            keep_images=settings.events.ecr_keep_images,
            protect=settings.protect,
            load_balancer_deletion_protection=settings.protect,
            tls=(
                ServiceTls(
                    domain_name=domains.service.name,
                    certificate_arn=certificate("server", domains.service).arn,
                    zone_id=domains.zone_id,
                )
                if domains.service is not None
                else None
            ),
            tags=tags,
        ),
    )
    database.allow_from("server", service.security_group_id)

# What `${reference}` in a declaration may name (declarations.REFERENCES).
identity = aws.get_caller_identity_output()
references: dict[str, pulumi.Input[str]] = {
    "stack": settings.stack,
    "region": aws.get_region_output().region,
    "account": identity.account_id,
}
if service is not None:
    references["ecr-repository.name"] = service.repository_name
    references["ecr-repository.arn"] = service.repository_arn


def resolved(value: Any) -> Any:
    """A declared value with its `${references}` replaced by the stack's resources."""
    return resolve(value, references.__getitem__, lambda parts: pulumi.Output.concat(*parts))


def function_args(artifact_name: str, fn: FunctionDeclaration) -> RustLambdaArgs:
    artifact = manifest.functions[artifact_name]
    return RustLambdaArgs(
        artifact=artifact,
        runtime=manifest.runtime,
        vpc_id=network.vpc_id if fn.vpc else None,
        subnet_ids=network.private_subnet_ids if fn.vpc else None,
        db_secret_arn=database.app_secret_arn if fn.database and database else None,
        environment={
            **(
                {**db_connection, "DB_SECRET_ARN": database.app_secret_arn}
                if fn.database and database
                else {}
            ),
            **{name: resolved(value) for name, value in fn.env},
            "RUST_LOG": settings.rust_log,
        },
        extra_statements=[
            {
                "Effect": "Allow",
                # IAM's own shorthand for one: a string, not a list
                "Action": s.actions[0] if len(s.actions) == 1 else list(s.actions),
                "Resource": (
                    resolved(s.resources[0])
                    if len(s.resources) == 1
                    else [resolved(r) for r in s.resources]
                ),
            }
            for s in fn.iam
        ],
        memory_mb=fn.memory,
        timeout_seconds=fn.timeout,
        reserved_concurrency=fn.reserved_concurrency,
        tracing=fn.tracing,
        # After creation the alias is CodeDeploy's to move (python -m rollout, after `up`).
        alias_managed_by="codedeploy",
        # The schema changes before new code that reads it goes live.
        live_after=[migration.done] if migration is not None and fn.database else [],
        log_retention_days=settings.log_retention_days,
        protect=settings.protect,
        tags=tags,
    )


functions: dict[str, RustLambda] = {}
for fn_name, fn in sorted(declared.items()):
    if fn.trigger.kind == "migration":
        continue  # the Migration component's
    functions[fn_name] = RustLambda(f"{prefix}-{fn_name}", function_args(fn_name, fn))
    if fn.database and database is not None:
        database.allow_from(fn_name, functions[fn_name].security_group_id)

api = settings.api
rest_api = None
# validate_set made sure: at most one of each, and one only with the other.
handler = next(iter(manifest.triggered("api")), None)
authorizer = next(iter(manifest.triggered("api-authorizer")), None)
if handler is not None and authorizer is not None:
    rest_api = RestApi(
        f"{prefix}-rest",
        RestApiArgs(
            routes=routes,
            handler=functions[handler.name],
            authorizer=functions[authorizer.name],
            stage_name=api.stage_name,
            authorizer_cache_ttl_seconds=api.authorizer_cache_ttl_seconds,
            manage_account_logging_role=api.manage_account_logging_role,
            domain=(
                ApiDomain(
                    domain_name=domains.api.name,
                    certificate_arn=certificate("api", domains.api).arn,
                    zone_id=domains.zone_id,
                )
                if domains.api is not None
                else None
            ),
            disable_execute_api_endpoint=domains.disable_execute_api_endpoint,
            throttle_rate_limit=api.throttle_rate_limit,
            throttle_burst_limit=api.throttle_burst_limit,
            log_retention_days=settings.log_retention_days,
            protect=settings.protect,
            tags=tags,
        ),
    )

targets = [
    EventTarget(
        function=functions[name],
        label=name,
        schedule_expression=fn.trigger.schedule,
        event_pattern=(
            pulumi.Output.json_dumps(resolved(fn.trigger.pattern))
            if fn.trigger.pattern is not None
            else None
        ),
    )
    for name, fn in sorted(declared.items())
    if fn.trigger.kind in ("schedule", "event-pattern")
]
ev = settings.events
event_rules = None
if targets:
    event_rules = EventRules(
        f"{prefix}-events",
        EventRulesArgs(
            targets=targets,
            retry_attempts=ev.retry_attempts,
            max_age_seconds=ev.max_age_seconds,
            function_retry_attempts=ev.function_retry_attempts,
            function_max_event_age_seconds=ev.function_max_event_age_seconds,
            tags=tags,
        ),
    )

mon = settings.monitoring
monitoring = Monitoring(
    f"{prefix}-monitoring",
    MonitoringArgs(
        functions={
            **functions,
            **({migration.function_name: migration.function} if migration is not None else {}),
        },
        thresholds=mon.thresholds,
        api=rest_api,
        service=service,
        database=database,
        dead_letter_queues={"events-dlq": event_rules.dlq_name} if event_rules else {},
        event_rules=event_rules.rule_names if event_rules else {},
        notifications=mon.notifications,
        emails=mon.emails,
        https_endpoint=mon.https_endpoint,
        tags=tags,
    ),
)
deployments = (
    LambdaDeployments(
        f"{prefix}-deploy",
        LambdaDeploymentsArgs(
            functions=functions,
            rollback_alarms={key: [monitoring.errors_alarms[key]] for key in functions},
            strategy=settings.rollout.strategy,
            percent=settings.rollout.percent,
            interval_minutes=settings.rollout.interval_minutes,
            tags=tags,
        ),
    )
    if functions
    else None
)

if rest_api is not None:
    pulumi.export("api_url", rest_api.url)
if service is not None:
    pulumi.export("service_url", service.url)
    pulumi.export("ecr_repository_url", service.repository_url)
pulumi.export("function_names", {k: f.function_name for k, f in functions.items()})
if database is not None:
    pulumi.export("database_endpoint", database.endpoint)
# For a network or database of one's own: the security groups to admit.
pulumi.export(
    "security_group_ids",
    {
        **{k: f.security_group_id for k, f in functions.items() if f.security_group_id},
        **(
            {migration.function_name: migration.function.security_group_id}
            if migration and migration.function.security_group_id
            else {}
        ),
        **({"server": service.security_group_id} if service else {}),
    },
)
# What this stack runs: the drift check rebuilds or downloads the deployed commit's artifacts
# and proves they are these bytes before it previews (drift.yml).
pulumi.export("artifact_digest", manifest.digest)
pulumi.export("dashboard_url", monitoring.dashboard_url)
pulumi.export("alarm_topic_arn", monitoring.topic_arn)
# What `python -m rollout` deploys: per function the version `up` published and its group.
pulumi.export("rollout", deployments.plan if deployments is not None else {})
