"""Service: the Rust API server on ECS Fargate behind an ALB, its image built and pushed to ECR."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import pulumi
import pulumi_aws as aws
import pulumi_docker as docker

from components.certificate import DOMAIN_NAME
from components.iam import assume_role_policy, policy_document

TYPE = "rust-on-aws:service:Service"
CONTAINER = "server"
HEALTH_CHECK_PATH = "/healthz"
CONTAINER_HEALTH_COMMAND = "/app/server"
"""The server binary in the image (app/Dockerfile); `server healthcheck` probes /livez."""
CONTAINER_START_PERIOD_SECONDS = 30
"""Failed liveness checks do not count during the first 30 s of a task."""
TLS_POLICY = "ELBSecurityPolicy-TLS13-1-2-2021-06"
"""TLS 1.3 and 1.2 only (FSBP ELB.17)."""
_PLATFORM = {"x86_64": "linux/amd64", "arm64": "linux/arm64"}
_CPU_ARCH = {"x86_64": "X86_64", "arm64": "ARM64"}


_FROM = re.compile(
    r"^\s*FROM\s+(?:--platform=\S+\s+)?(?P<image>\S+)(?:\s+AS\s+(?P<stage>\S+))?",
    re.IGNORECASE | re.MULTILINE,
)


class ImageError(ValueError):
    """The image's inputs cannot give a tag that changes whenever its content can."""


def image_content_tag(server_sha256: str, dockerfile: Path) -> str:
    """The image tag: the first 16 hex of a sha256 over everything that makes the image.

    The repository's tags are IMMUTABLE, so a tag must never be pushed twice with different
    content. The content is the server folder (the manifest's sha256 of its files), the
    Dockerfile's bytes, and the base image, which the Dockerfile must pin by digest (so it is in
    those bytes): a new base under the same tag would otherwise build a new image under an
    existing tag, and ECR would refuse the push.
    """
    try:
        text = dockerfile.read_bytes()
    except OSError as exc:
        raise ImageError(f"Dockerfile {dockerfile} cannot be read ({exc}); restore it") from exc
    found = list(_FROM.finditer(text.decode(errors="replace")))
    if not found:
        raise ImageError(f"Dockerfile {dockerfile} has no FROM line; restore app/Dockerfile")
    stages: set[str] = {"scratch"}  # no base at all, or an earlier stage of this file
    for match in found:
        image = match["image"]
        if match["stage"]:
            stages.add(match["stage"].lower())
        if image.lower() in stages:
            continue
        if "$" in image:
            raise ImageError(
                f"Dockerfile {dockerfile}: FROM {image} takes the base image from a build "
                "argument, which the image tag cannot see; write the image in the FROM line, "
                "pinned by digest"
            )
        if not re.search(r"@sha256:[0-9a-f]{64}$", image):
            raise ImageError(
                f"Dockerfile {dockerfile}: FROM {image} is not pinned by digest, so a new base "
                "image under the same tag would make a new image under an existing (immutable) "
                f"tag; pin it: FROM {image}@sha256:<digest> (`docker buildx imagetools inspect "
                f"{image}` prints it)"
            )
    digest = hashlib.sha256(f"server {server_sha256}\n".encode() + text).hexdigest()
    return digest[:16]


@dataclass(frozen=True, kw_only=True)
class ServiceTls:
    """The load balancer's domain name and certificate."""

    domain_name: str
    """Host name clients use, e.g. `app.example.com`."""
    certificate_arn: pulumi.Input[str]
    """Issued ACM certificate for `domain_name` in the stack's region (components.certificate)."""
    zone_id: str | None = None
    """Route 53 hosted zone for the alias record; None creates no record."""


@dataclass(frozen=True, kw_only=True)
class ServiceArgs:
    vpc_id: pulumi.Input[str]
    """VPC of the security groups and the target group."""
    public_subnet_ids: pulumi.Input[Sequence[pulumi.Input[str]]]
    """Subnets of the load balancer."""
    private_subnet_ids: pulumi.Input[Sequence[pulumi.Input[str]]]
    """Subnets of the tasks (no public IP)."""
    context: str
    """Docker build context: the server folder `make build` wrote (dist/server)."""
    dockerfile: str
    """Dockerfile path (app/Dockerfile)."""
    image_tag: str
    """Image tag (`image_content_tag`): changes whenever the image's content can."""
    architecture: Literal["x86_64", "arm64"]
    """CPU architecture of the image and the tasks."""
    db_host: pulumi.Input[str]
    db_port: pulumi.Input[int]
    db_name: pulumi.Input[str]
    db_secret_arn: pulumi.Input[str]
    """The runtime role's secret (DB_SECRET_ARN). The server reads it itself with the task
    role, and again when PostgreSQL refuses the password (after a rotation), so a running task
    recovers without being replaced; ECS does not inject it (it would only at task start)."""
    db_ssl_mode: str = "verify-full"
    """DB_SSLMODE. Default verify-full."""
    db_ssl_root_cert: str = "/app/certs/rds-ca-bundle.pem"
    """DB_SSLROOTCERT: the CA certificates in the image (dist/server/certs/)."""
    deploy_after: Sequence[pulumi.Resource] = ()
    """A new task definition (new code) is registered only after these: the migration step.
    Default none."""
    cpu: int = 256
    """Fargate CPU units. Default 256."""
    memory_mb: int = 512
    """Fargate memory, MiB. Default 512."""
    container_port: int = 8080
    """PORT the server listens on. Default 8080."""
    desired_count: int = 1
    """Tasks at creation (autoscaling owns it afterwards). Default 1."""
    min_count: int = 1
    """Autoscaling minimum. Default 1."""
    max_count: int = 2
    """Autoscaling maximum. Default 2."""
    cpu_target_percent: int = 60
    """Target-tracking average CPU, percent. Default 60."""
    wait_for_steady_state: bool = False
    """`pulumi up` waits for the new deployment to be steady (and fails when it is not).
    Default false."""
    rust_log: str = "info"
    """RUST_LOG. Default info."""
    log_retention_days: int = 14
    """Log group retention, days. Default 14."""
    keep_images: int = 20
    """ECR lifecycle: keep the newest this many images. Default 20."""
    protect: bool = False
    """Pulumi `protect` on the repository and the log group. Default false."""
    tls: ServiceTls | None = None
    """HTTPS on 443 (TLS 1.2+ policy) for a domain name, HTTP on 80 then only redirects to it.
    Default none: HTTP on 80 forwards to the tasks (refused in production by the settings)."""
    load_balancer_deletion_protection: bool = False
    """AWS deletion protection on the load balancer (FSBP ELB.6). Default false; true in prod."""
    tags: dict[str, str] = field(default_factory=dict)
    """Tags on every taggable resource."""


class Service(pulumi.ComponentResource):
    url: pulumi.Output[str]
    """https://<domain name> with TLS, else http://<load balancer DNS name>."""
    repository_url: pulumi.Output[str]
    repository_name: pulumi.Output[str]
    repository_arn: pulumi.Output[str]
    image_ref: pulumi.Output[str]
    """The pushed image by digest (what the task definition runs)."""
    security_group_id: pulumi.Output[str]
    """The tasks' security group (the database admits it)."""
    cluster_name: pulumi.Output[str]
    service_name: pulumi.Output[str]
    load_balancer_arn_suffix: pulumi.Output[str]
    """`app/<name>/<id>`: the `LoadBalancer` dimension of its CloudWatch metrics."""
    target_group_arn_suffix: pulumi.Output[str]
    """`targetgroup/<name>/<id>`: the `TargetGroup` dimension."""

    def __init__(
        self, name: str, args: ServiceArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(TYPE, name, None, opts)
        if args.architecture not in _PLATFORM:
            raise ValueError(
                f"Service {name}: architecture must be x86_64 or arm64, got {args.architecture!r}"
            )
        if not 0 <= args.min_count <= args.desired_count <= args.max_count or args.max_count < 1:
            raise ValueError(
                f"Service {name}: need 0 <= min_count <= desired_count <= max_count and "
                f"max_count >= 1, got {args.min_count}, {args.desired_count}, {args.max_count}"
            )
        if not args.image_tag:
            raise ValueError(f"Service {name}: image_tag must not be empty")
        if args.tls is not None and not DOMAIN_NAME.fullmatch(args.tls.domain_name):
            raise ValueError(
                f"Service {name}: tls.domain_name must be a lowercase host name such as "
                f"app.example.com, got {args.tls.domain_name!r}"
            )
        child = pulumi.ResourceOptions(parent=self)
        stateful = pulumi.ResourceOptions(parent=self, protect=args.protect)
        tags = args.tags

        # --- image ---------------------------------------------------------------------------
        repo = aws.ecr.Repository(
            f"{name}-repo",
            image_tag_mutability="IMMUTABLE",
            image_scanning_configuration=aws.ecr.RepositoryImageScanningConfigurationArgs(
                scan_on_push=True
            ),
            encryption_configurations=[
                aws.ecr.RepositoryEncryptionConfigurationArgs(encryption_type="AES256")
            ],
            force_delete=not args.protect,
            tags=tags,
            opts=stateful,
        )
        aws.ecr.LifecyclePolicy(
            f"{name}-repo-lifecycle",
            repository=repo.name,
            policy=pulumi.Output.json_dumps(
                {
                    "rules": [
                        {
                            "rulePriority": 1,
                            "description": f"keep the newest {args.keep_images} images",
                            "selection": {
                                "tagStatus": "any",
                                "countType": "imageCountMoreThan",
                                "countNumber": args.keep_images,
                            },
                            "action": {"type": "expire"},
                        }
                    ]
                }
            ),
            opts=child,
        )
        token = aws.ecr.get_authorization_token_output(registry_id=repo.registry_id)
        image = docker.Image(
            f"{name}-image",
            image_name=pulumi.Output.concat(repo.repository_url, ":", args.image_tag),
            build=docker.DockerBuildArgs(
                context=args.context,
                dockerfile=args.dockerfile,
                platform=_PLATFORM[args.architecture],
            ),
            registry=docker.RegistryArgs(
                server=repo.repository_url,
                username=token.user_name,
                password=pulumi.Output.secret(token.password),
            ),
            opts=child,
        )

        # --- logs and roles ------------------------------------------------------------------
        log_group = aws.cloudwatch.LogGroup(
            f"{name}-logs",
            name=f"/ecs/{name}",
            retention_in_days=args.log_retention_days,
            tags=tags,
            opts=stateful,
        )
        execution_role = aws.iam.Role(
            f"{name}-execution",
            assume_role_policy=assume_role_policy("ecs-tasks.amazonaws.com"),
            description=f"{name}: pull the image, write logs, read the database secret",
            tags=tags,
            opts=child,
        )
        execution_policy = aws.iam.RolePolicy(
            f"{name}-execution",
            role=execution_role.id,
            policy=policy_document(
                [
                    {
                        # GetAuthorizationToken has no resource-level permissions.
                        "Effect": "Allow",
                        "Action": "ecr:GetAuthorizationToken",
                        "Resource": "*",
                    },
                    {
                        "Effect": "Allow",
                        "Action": [
                            "ecr:BatchCheckLayerAvailability",
                            "ecr:BatchGetImage",
                            "ecr:GetDownloadUrlForLayer",
                        ],
                        "Resource": repo.arn,
                    },
                    {
                        "Effect": "Allow",
                        "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
                        "Resource": pulumi.Output.concat(log_group.arn, ":*"),
                    },
                ]
            ),
            opts=child,
        )
        task_role = aws.iam.Role(
            f"{name}-task",
            assume_role_policy=assume_role_policy("ecs-tasks.amazonaws.com"),
            description=f"{name}: the server's own identity (reads the runtime database secret)",
            tags=tags,
            opts=child,
        )
        task_policy = aws.iam.RolePolicy(
            f"{name}-task",
            role=task_role.id,
            policy=policy_document(
                [
                    {
                        "Effect": "Allow",
                        "Action": "secretsmanager:GetSecretValue",
                        "Resource": args.db_secret_arn,
                    }
                ]
            ),
            opts=child,
        )

        # --- network -------------------------------------------------------------------------
        alb_sg = aws.ec2.SecurityGroup(
            f"{name}-alb-sg",
            vpc_id=args.vpc_id,
            description=f"{name}: HTTP from the internet to the load balancer",
            tags={**tags, "Name": f"{name}-alb-sg"},
            opts=child,
        )
        task_sg = aws.ec2.SecurityGroup(
            f"{name}-task-sg",
            vpc_id=args.vpc_id,
            description=f"{name}: tasks, reachable from the load balancer only",
            tags={**tags, "Name": f"{name}-task-sg"},
            opts=child,
        )
        public_ports = {80: "HTTP"} | ({443: "HTTPS"} if args.tls else {})
        for port, proto in public_ports.items():
            aws.vpc.SecurityGroupIngressRule(
                f"{name}-alb-{proto.lower()}",
                security_group_id=alb_sg.id,
                cidr_ipv4="0.0.0.0/0",
                ip_protocol="tcp",
                from_port=port,
                to_port=port,
                description=f"{proto} from the internet",
                opts=child,
            )
        aws.vpc.SecurityGroupEgressRule(
            f"{name}-alb-to-tasks",
            security_group_id=alb_sg.id,
            referenced_security_group_id=task_sg.id,
            ip_protocol="tcp",
            from_port=args.container_port,
            to_port=args.container_port,
            description="to the tasks",
            opts=child,
        )
        aws.vpc.SecurityGroupIngressRule(
            f"{name}-tasks-from-alb",
            security_group_id=task_sg.id,
            referenced_security_group_id=alb_sg.id,
            ip_protocol="tcp",
            from_port=args.container_port,
            to_port=args.container_port,
            description="from the load balancer",
            opts=child,
        )
        aws.vpc.SecurityGroupEgressRule(
            f"{name}-tasks-egress",
            security_group_id=task_sg.id,
            cidr_ipv4="0.0.0.0/0",
            ip_protocol="-1",
            description="ECR, Secrets Manager, CloudWatch Logs through the NAT; the database",
            opts=child,
        )
        alb = aws.lb.LoadBalancer(
            f"{name}-alb",
            load_balancer_type="application",
            internal=False,
            subnets=args.public_subnet_ids,
            security_groups=[alb_sg.id],
            drop_invalid_header_fields=True,
            enable_deletion_protection=args.load_balancer_deletion_protection,
            tags=tags,
            opts=child,
        )
        target_group = aws.lb.TargetGroup(
            f"{name}-tg",
            port=args.container_port,
            protocol="HTTP",
            target_type="ip",
            vpc_id=args.vpc_id,
            deregistration_delay=30,
            health_check=aws.lb.TargetGroupHealthCheckArgs(
                enabled=True,
                path=HEALTH_CHECK_PATH,
                matcher="200",
                interval=15,
                timeout=5,
                healthy_threshold=2,
                unhealthy_threshold=3,
            ),
            tags=tags,
            opts=child,
        )
        listener = self._listeners(name, args, alb, target_group, child)

        # --- cluster, task, service ----------------------------------------------------------
        cluster = aws.ecs.Cluster(
            f"{name}-cluster",
            settings=[aws.ecs.ClusterSettingArgs(name="containerInsights", value="enabled")],
            tags=tags,
            opts=child,
        )
        region = aws.get_region_output()
        container = {
            "name": CONTAINER,
            "image": image.repo_digest,
            "essential": True,
            "portMappings": [{"containerPort": args.container_port, "protocol": "tcp"}],
            "environment": [
                {"name": k, "value": v}
                for k, v in sorted(
                    {
                        "DB_HOST": args.db_host,
                        "DB_PORT": pulumi.Output.from_input(args.db_port).apply(str),
                        "DB_NAME": args.db_name,
                        "DB_SECRET_ARN": args.db_secret_arn,
                        "DB_SSLMODE": args.db_ssl_mode,
                        "DB_SSLROOTCERT": args.db_ssl_root_cert,
                        "PORT": str(args.container_port),
                        "RUST_LOG": args.rust_log,
                        # The migration step migrates (components/migration.py); the task's
                        # runtime role could not.
                        "MIGRATE_ON_START": "false",
                    }.items()
                )
            ],
            "logConfiguration": {
                "logDriver": "awslogs",
                "options": {
                    "awslogs-group": log_group.name,
                    "awslogs-region": region.region,
                    "awslogs-stream-prefix": CONTAINER,
                },
            },
            "readonlyRootFilesystem": True,
            # Liveness: `server healthcheck` GETs /livez, which never touches the database, so a
            # database outage does not make ECS kill every task (the load balancer's deep
            # /healthz takes them out of rotation instead). The start period covers start-up:
            # reading the secret and connecting (the schema is already current).
            "healthCheck": {
                "command": ["CMD", CONTAINER_HEALTH_COMMAND, "healthcheck"],
                "interval": 15,
                "timeout": 5,
                "retries": 3,
                "startPeriod": CONTAINER_START_PERIOD_SECONDS,
            },
        }
        task = aws.ecs.TaskDefinition(
            f"{name}-task",
            family=name,
            cpu=str(args.cpu),
            memory=str(args.memory_mb),
            network_mode="awsvpc",
            requires_compatibilities=["FARGATE"],
            runtime_platform=aws.ecs.TaskDefinitionRuntimePlatformArgs(
                operating_system_family="LINUX", cpu_architecture=_CPU_ARCH[args.architecture]
            ),
            execution_role_arn=execution_role.arn,
            task_role_arn=task_role.arn,
            container_definitions=pulumi.Output.json_dumps([container]),
            tags=tags,
            # New code only once the schema is current (the migration step).
            opts=pulumi.ResourceOptions(parent=self, depends_on=list(args.deploy_after)),
        )
        service = aws.ecs.Service(
            f"{name}-service",
            cluster=cluster.arn,
            task_definition=task.arn,
            desired_count=args.desired_count,
            launch_type="FARGATE",
            network_configuration=aws.ecs.ServiceNetworkConfigurationArgs(
                subnets=args.private_subnet_ids,
                security_groups=[task_sg.id],
                assign_public_ip=False,
            ),
            load_balancers=[
                aws.ecs.ServiceLoadBalancerArgs(
                    target_group_arn=target_group.arn,
                    container_name=CONTAINER,
                    container_port=args.container_port,
                )
            ],
            deployment_circuit_breaker=aws.ecs.ServiceDeploymentCircuitBreakerArgs(
                enable=True, rollback=True
            ),
            # The load balancer's /healthz is not held against a task in its first minute.
            health_check_grace_period_seconds=60,
            propagate_tags="SERVICE",
            tags=tags,
            wait_for_steady_state=args.wait_for_steady_state,
            # Autoscaling owns the count after creation. The roles' permissions exist before tasks
            # start (image pull and logs; the secret), and on destroy the service goes first, so
            # its tasks stop while the roles still let them.
            opts=pulumi.ResourceOptions(
                parent=self,
                depends_on=[listener, execution_policy, task_policy],
                ignore_changes=["desiredCount"],
            ),
        )
        scaling = aws.appautoscaling.Target(
            f"{name}-scaling",
            service_namespace="ecs",
            scalable_dimension="ecs:service:DesiredCount",
            resource_id=pulumi.Output.concat("service/", cluster.name, "/", service.name),
            min_capacity=args.min_count,
            max_capacity=args.max_count,
            opts=child,
        )
        aws.appautoscaling.Policy(
            f"{name}-cpu",
            policy_type="TargetTrackingScaling",
            service_namespace=scaling.service_namespace,
            scalable_dimension=scaling.scalable_dimension,
            resource_id=scaling.resource_id,
            target_tracking_scaling_policy_configuration=aws.appautoscaling.PolicyTargetTrackingScalingPolicyConfigurationArgs(
                target_value=args.cpu_target_percent,
                predefined_metric_specification=aws.appautoscaling.PolicyTargetTrackingScalingPolicyConfigurationPredefinedMetricSpecificationArgs(
                    predefined_metric_type="ECSServiceAverageCPUUtilization"
                ),
                scale_in_cooldown=120,
                scale_out_cooldown=60,
            ),
            opts=child,
        )

        self.url = self._address(name, args, alb, child)
        self.repository_url = repo.repository_url
        self.repository_name = repo.name
        self.repository_arn = repo.arn
        self.image_ref = image.repo_digest
        self.security_group_id = task_sg.id
        self.cluster_name = cluster.name
        self.service_name = service.name
        self.load_balancer_arn_suffix = alb.arn_suffix
        self.target_group_arn_suffix = target_group.arn_suffix
        self.register_outputs(
            {
                "url": self.url,
                "repository_url": self.repository_url,
                "image_ref": self.image_ref,
                "security_group_id": self.security_group_id,
            }
        )

    @staticmethod
    def _address(
        name: str, args: ServiceArgs, alb: aws.lb.LoadBalancer, child: pulumi.ResourceOptions
    ) -> pulumi.Output[str]:
        """The service's URL; with TLS and a hosted zone, the alias record that makes it work."""
        if args.tls is None:
            return pulumi.Output.concat("http://", alb.dns_name)
        if args.tls.zone_id is not None:
            aws.route53.Record(
                f"{name}-dns",
                zone_id=args.tls.zone_id,
                name=args.tls.domain_name,
                type="A",
                aliases=[
                    aws.route53.RecordAliasArgs(
                        name=alb.dns_name, zone_id=alb.zone_id, evaluate_target_health=True
                    )
                ],
                opts=child,
            )
        return pulumi.Output.from_input(f"https://{args.tls.domain_name}")

    @staticmethod
    def _listeners(
        name: str,
        args: ServiceArgs,
        alb: aws.lb.LoadBalancer,
        target_group: aws.lb.TargetGroup,
        child: pulumi.ResourceOptions,
    ) -> aws.lb.Listener:
        """HTTPS forwarding and HTTP redirecting with a certificate; HTTP forwarding without.

        Returns the listener that forwards to the tasks (the service depends on it).
        """
        forward = aws.lb.ListenerDefaultActionArgs(
            type="forward", target_group_arn=target_group.arn
        )
        if args.tls is not None:
            listener: aws.lb.Listener | None = aws.lb.Listener(
                f"{name}-https",
                load_balancer_arn=alb.arn,
                port=443,
                protocol="HTTPS",
                ssl_policy=TLS_POLICY,
                certificate_arn=args.tls.certificate_arn,
                default_actions=[forward],
                opts=child,
            )
            http_action = aws.lb.ListenerDefaultActionArgs(
                type="redirect",
                redirect=aws.lb.ListenerDefaultActionRedirectArgs(
                    protocol="HTTPS", port="443", status_code="HTTP_301"
                ),
            )
        else:
            listener, http_action = None, forward
        http = aws.lb.Listener(
            f"{name}-http",
            load_balancer_arn=alb.arn,
            port=80,
            protocol="HTTP",
            default_actions=[http_action],
            opts=child,
        )
        return listener or http
