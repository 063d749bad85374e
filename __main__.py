"""rust-on-aws: the whole AWS topology of the Rust backend, one stack per environment.

Deploys:
- a VPC over two or three AZs (public subnets for the load balancer, private ones for the rest)
  or an existing VPC (components/network.py);
- RDS PostgreSQL with an AWS-managed password, or an external database (components/database.py),
  and the migration step that applies the schema and keeps a least-privilege runtime role
  before any new code goes live (components/migration.py);
- the API server on ECS Fargate behind an ALB, its image built and pushed to ECR
  (components/service.py);
- four Rust Lambdas from the artifact manifest: authorizer, handler, event, timer
  (components/rust_lambda.py);
- an API Gateway REST API from app/routes.json behind a TOKEN authorizer (components/rest_api.py);
- EventBridge rules: ECR pushes -> event, a schedule -> timer, with a dead-letter queue
  (components/event_rules.py);
- alarms on every function, the API stage, the load balancer and service, the database, the
  dead-letter queue and the rules, notifying an encrypted topic, and a dashboard of the same
  (components/monitoring.py);
- CodeDeploy deployment groups that move each runtime function's `live` alias to the version
  `pulumi up` published, rolled back when its Errors alarm fires; `python -m rollout` starts
  them after `up` (components/code_deploy.py).

Configuration: Pulumi.yaml declares every key; Pulumi.<stack>.yaml sets values.
"""

from __future__ import annotations

from pathlib import Path

import pulumi

from components.certificate import Certificate, CertificateArgs
from components.code_deploy import LambdaDeployments, LambdaDeploymentsArgs
from components.database import Database, DatabaseArgs, ExternalDatabase
from components.event_rules import EventRules, EventRulesArgs
from components.manifest import manifest_path, read_manifest
from components.migration import Migration, MigrationArgs
from components.monitoring import Monitoring, MonitoringArgs
from components.network import Network, NetworkArgs
from components.rest_api import ApiDomain, RestApi, RestApiArgs
from components.routes import load_routes
from components.rust_lambda import RustLambda, RustLambdaArgs
from components.service import Service, ServiceArgs, ServiceTls, image_content_tag
from components.settings import ROOT, Domain, load_settings

settings = load_settings()
manifest = read_manifest(
    manifest_path(settings.manifest_path, ROOT),
    runtime=settings.lambda_runtime,
    architecture=settings.architecture,
)
routes = load_routes(ROOT / settings.api.routes_path)
DOCKERFILE = ROOT / "app" / "Dockerfile"
image_tag = image_content_tag(manifest.server.sha256, DOCKERFILE)
prefix = settings.prefix
tags = {"project": "rust-on-aws", "stack": settings.stack}


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
database = Database(
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
            )
            if db.mode == "external"
            else None
        ),
        tags=tags,
    ),
)

lam = settings.lambdas
# Every process connects over TLS verified against the RDS CA bundle the artifacts ship.
db_connection: dict[str, pulumi.Input[str]] = {
    "DB_HOST": database.host,
    "DB_PORT": database.port.apply(str),
    "DB_NAME": database.db_name,
    "DB_SSLMODE": db.ssl_mode,
    "DB_SSLROOTCERT": f"/var/task/{manifest.ca_bundle_path}",
    "RUST_LOG": settings.rust_log,
}
migration = Migration(
    f"{prefix}-migration",
    MigrationArgs(
        artifact=manifest.functions["migrate"],
        runtime=manifest.runtime,
        vpc_id=network.vpc_id,
        subnet_ids=network.private_subnet_ids,
        master_secret_arn=database.master_secret_arn,
        master_secret_kms_key_arn=database.master_secret_kms_key_arn,
        app_secret_arn=database.app_secret_arn,
        app_username=database.app_username,
        environment=db_connection,
        timeout_seconds=lam.migration_timeout_seconds,
        log_retention_days=settings.log_retention_days,
        protect=settings.protect,
        tags=tags,
    ),
)
database.allow_from("migrate", migration.function.security_group_id)

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
service_tls = (
    ServiceTls(
        domain_name=domains.service.name,
        certificate_arn=certificate("server", domains.service).arn,
        zone_id=domains.zone_id,
    )
    if domains.service is not None
    else None
)
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
        deploy_after=[migration.done],
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
        tls=service_tls,
        tags=tags,
    ),
)
database.allow_from("server", service.security_group_id)

# The runtime functions: the least-privilege role's secret, nothing of the master's.
db_env: dict[str, pulumi.Input[str]] = {**db_connection, "DB_SECRET_ARN": database.app_secret_arn}
extra_env: dict[str, dict[str, pulumi.Input[str]]] = {
    "event": {"ECR_REPOSITORY_NAME": service.repository_name},
    "timer": {
        "TOKEN_RETENTION_DAYS": str(lam.token_retention_days),
        "COMMAND_RETENTION_DAYS": str(lam.command_retention_days),
    },
}
extra_statements: dict[str, list[dict[str, object]]] = {
    # The event Lambda reads the pushed image's size and push time from ECR.
    "event": [
        {
            "Effect": "Allow",
            "Action": "ecr:DescribeImages",
            "Resource": service.repository_arn,
        }
    ],
}
functions: dict[str, RustLambda] = {}
for fn_name, artifact in manifest.functions.items():
    if fn_name == "migrate":
        continue  # the Migration component's
    api_facing = fn_name in ("authorizer", "handler")
    functions[fn_name] = RustLambda(
        f"{prefix}-{fn_name}",
        RustLambdaArgs(
            artifact=artifact,
            runtime=manifest.runtime,
            vpc_id=network.vpc_id,
            subnet_ids=network.private_subnet_ids,
            db_secret_arn=database.app_secret_arn,
            environment={**db_env, **extra_env.get(fn_name, {})},
            extra_statements=extra_statements.get(fn_name, ()),
            memory_mb=lam.memory_mb,
            timeout_seconds=lam.api_timeout_seconds if api_facing else lam.event_timeout_seconds,
            reserved_concurrency=lam.handler_reserved_concurrency if fn_name == "handler" else None,
            live_after=[migration.done],
            alias_managed_by="codedeploy",
            log_retention_days=settings.log_retention_days,
            protect=settings.protect,
            tags=tags,
        ),
    )
    database.allow_from(fn_name, functions[fn_name].security_group_id)

api = settings.api
api_domain = (
    ApiDomain(
        domain_name=domains.api.name,
        certificate_arn=certificate("api", domains.api).arn,
        zone_id=domains.zone_id,
    )
    if domains.api is not None
    else None
)
rest_api = RestApi(
    f"{prefix}-rest",
    RestApiArgs(
        routes=routes,
        handler=functions["handler"],
        authorizer=functions["authorizer"],
        stage_name=api.stage_name,
        authorizer_cache_ttl_seconds=api.authorizer_cache_ttl_seconds,
        manage_account_logging_role=api.manage_account_logging_role,
        domain=api_domain,
        disable_execute_api_endpoint=domains.disable_execute_api_endpoint,
        throttle_rate_limit=api.throttle_rate_limit,
        throttle_burst_limit=api.throttle_burst_limit,
        log_retention_days=settings.log_retention_days,
        protect=settings.protect,
        tags=tags,
    ),
)

ev = settings.events
event_rules = EventRules(
    f"{prefix}-events",
    EventRulesArgs(
        event_function=functions["event"],
        timer_function=functions["timer"],
        repository_name=service.repository_name,
        schedule_expression=ev.schedule_expression,
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
        functions={**functions, "migrate": migration.function},
        thresholds=mon.thresholds,
        api=rest_api,
        service=service,
        database=database,
        dead_letter_queues={"events-dlq": event_rules.dlq_name},
        event_rules=event_rules.rule_names,
        notifications=mon.notifications,
        emails=mon.emails,
        https_endpoint=mon.https_endpoint,
        tags=tags,
    ),
)
# The migration's alias moves with `pulumi up` (it runs during it); the others through CodeDeploy.
deployments = LambdaDeployments(
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

pulumi.export("api_url", rest_api.url)
pulumi.export("service_url", service.url)
pulumi.export("function_names", {k: f.function_name for k, f in functions.items()})
pulumi.export("ecr_repository_url", service.repository_url)
pulumi.export("database_endpoint", database.endpoint)
# What this stack runs: the drift check rebuilds or downloads the deployed commit's artifacts
# and proves they are these bytes before it previews (drift.yml).
pulumi.export("artifact_digest", manifest.digest)
pulumi.export("dashboard_url", monitoring.dashboard_url)
pulumi.export("alarm_topic_arn", monitoring.topic_arn)
# What `python -m rollout` deploys: per function the version `up` published and its group.
pulumi.export("rollout", deployments.plan)
