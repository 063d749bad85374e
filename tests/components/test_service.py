"""components/service.py under mocks."""

from __future__ import annotations

import json
import re

import pulumi_aws as aws
import pytest

from components.service import ImageError, Service, ServiceArgs, ServiceTls, image_content_tag
from plan.mocks import mock_id
from plan.view import policy_json

SECRET = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:rds!db-1-AbCdEf"
SG = "aws:ec2/securityGroup:SecurityGroup"


def args(**changes: object) -> ServiceArgs:
    base: dict[str, object] = {
        "vpc_id": "vpc-1",
        "public_subnet_ids": ["subnet-pa", "subnet-pb"],
        "private_subnet_ids": ["subnet-a", "subnet-b"],
        "context": "dist/server",
        "dockerfile": "app/Dockerfile",
        "image_tag": "0123456789abcdef",
        "architecture": "x86_64",
        "db_host": "db.internal",
        "db_port": 5432,
        "db_name": "app",
        "db_secret_arn": SECRET,
    }
    base.update(changes)
    return ServiceArgs(**base)  # type: ignore[arg-type]


def test_repository_and_image(run) -> None:
    plan = run(lambda: Service("s", args(keep_images=7)))
    repo = plan.inputs("aws:ecr/repository:Repository")
    assert repo["imageTagMutability"] == "IMMUTABLE"
    assert repo["imageScanningConfiguration"] == {"scanOnPush": True}
    lifecycle = policy_json(plan.inputs("aws:ecr/lifecyclePolicy:LifecyclePolicy")["policy"])
    assert lifecycle["rules"][0]["selection"]["countNumber"] == 7
    image = plan.inputs("docker:index/image:Image")
    assert image["build"] == {
        "context": "dist/server",
        "dockerfile": "app/Dockerfile",
        "platform": "linux/amd64",
    }
    assert image["imageName"].startswith("123456789012.dkr.ecr.eu-west-1.amazonaws.com/s-repo-")
    assert image["imageName"].endswith(":0123456789abcdef")
    assert image["registry"] == "<secret>"  # credentials from ecr.get_authorization_token


def test_task_definition_env_secrets_and_logs(run) -> None:
    plan = run(lambda: Service("s", args(rust_log="debug")))
    task = plan.inputs("aws:ecs/taskDefinition:TaskDefinition")
    assert (task["cpu"], task["memory"], task["networkMode"]) == ("256", "512", "awsvpc")
    assert task["requiresCompatibilities"] == ["FARGATE"]
    assert task["runtimePlatform"]["cpuArchitecture"] == "X86_64"
    [container] = json.loads(task["containerDefinitions"])
    env = {e["name"]: e["value"] for e in container["environment"]}
    assert env == {
        "DB_HOST": "db.internal",
        "DB_PORT": "5432",
        "DB_NAME": "app",
        "DB_SECRET_ARN": SECRET,
        "DB_SSLMODE": "verify-full",
        "DB_SSLROOTCERT": "/app/certs/rds-ca-bundle.pem",
        "PORT": "8080",
        "RUST_LOG": "debug",
        "MIGRATE_ON_START": "false",
    }
    # ECS injects secrets once, at task start: after a rotation the task would keep a dead
    # password. The server reads the secret itself, and again when it is refused.
    assert "secrets" not in container
    health = container["healthCheck"]
    assert health["command"] == ["CMD", "/app/server", "healthcheck"]  # GET /livez
    assert health["startPeriod"] >= 30
    assert "@sha256:" in container["image"]
    log_group = plan.inputs("aws:cloudwatch/logGroup:LogGroup")
    assert container["logConfiguration"]["options"]["awslogs-group"] == log_group["name"]
    assert log_group["retentionInDays"] == 14


def test_roles_are_least_privilege(run) -> None:
    plan = run(lambda: Service("s", args()))
    execution = policy_json(plan.inputs("aws:iam/rolePolicy:RolePolicy", "s-execution")["policy"])
    resources = {json.dumps(st["Action"]): st["Resource"] for st in execution["Statement"]}
    assert resources['"ecr:GetAuthorizationToken"'] == "*"
    assert '"secretsmanager:GetSecretValue"' not in resources  # ECS injects nothing
    assert all(st["Action"] != "*" for st in execution["Statement"])
    # the task role (the server's own identity) reads the runtime secret, and nothing else
    task = plan.one("aws:iam/rolePolicy:RolePolicy", "s-task")
    assert {e["name"] for e in plan.fed_by(task, "role")} == {"s-task"}
    assert policy_json(task["inputs"]["policy"])["Statement"] == [
        {"Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": SECRET}
    ]
    service = plan.one("aws:ecs/service:Service")
    assert task["urn"] in service["dependsOn"]


def test_new_tasks_wait_for_the_migration(run) -> None:
    def program() -> None:
        step = aws.sqs.Queue("stand-in-for-the-migration")
        Service("s", args(deploy_after=[step]))

    plan = run(program)
    step = plan.one("aws:sqs/queue:Queue")
    assert step["urn"] in plan.one("aws:ecs/taskDefinition:TaskDefinition")["dependsOn"]


def test_load_balancer_service_and_scaling(run) -> None:
    plan = run(
        lambda: Service("s", args(min_count=2, desired_count=3, max_count=6, cpu_target_percent=55))
    )
    assert plan.inputs("aws:lb/targetGroup:TargetGroup")["healthCheck"]["path"] == "/healthz"
    assert plan.inputs("aws:lb/loadBalancer:LoadBalancer")["subnets"] == ["subnet-pa", "subnet-pb"]
    service = plan.one("aws:ecs/service:Service")
    inputs = service["inputs"]
    assert inputs["deploymentCircuitBreaker"] == {"enable": True, "rollback": True}
    assert inputs["desiredCount"] == 3
    assert inputs["networkConfiguration"] == {
        "assignPublicIp": False,
        "securityGroups": [mock_id(SG, "s-task-sg")],
        "subnets": ["subnet-a", "subnet-b"],
    }
    assert inputs["loadBalancers"][0]["containerName"] == "server"
    assert service["ignoreChanges"] == ["desiredCount"]
    listener = plan.one("aws:lb/listener:Listener")
    assert listener["urn"] in service["dependsOn"]
    target = plan.inputs("aws:appautoscaling/target:Target")
    assert (target["minCapacity"], target["maxCapacity"]) == (2, 6)
    policy = plan.inputs("aws:appautoscaling/policy:Policy")
    assert policy["targetTrackingScalingPolicyConfiguration"]["targetValue"] == 55
    ingress = plan.inputs(
        "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule", "s-tasks-from-alb"
    )
    assert ingress["referencedSecurityGroupId"] == mock_id(SG, "s-alb-sg")
    assert ingress["fromPort"] == ingress["toPort"] == 8080


CERT = "arn:aws:acm:eu-west-1:123456789012:certificate/0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0"
LISTENER = "aws:lb/listener:Listener"
INGRESS = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"


def test_http_only_without_certificate(run) -> None:
    plan = run(lambda: Service("s", args()))
    [http] = plan.of(LISTENER)
    assert (http["inputs"]["port"], http["inputs"]["protocol"]) == (80, "HTTP")
    assert http["inputs"]["defaultActions"][0]["type"] == "forward"
    assert [e["name"] for e in plan.of(INGRESS) if e["name"].startswith("s-alb-")] == ["s-alb-http"]


def test_tls_serves_https_and_redirects_http(run) -> None:
    tls = ServiceTls(domain_name="app.example.com", certificate_arn=CERT, zone_id="Z0ABC")
    plan = run(lambda: Service("s", args(tls=tls, load_balancer_deletion_protection=True)))
    https = plan.inputs(LISTENER, "s-https")
    assert (https["port"], https["protocol"], https["certificateArn"]) == (443, "HTTPS", CERT)
    assert https["sslPolicy"] == "ELBSecurityPolicy-TLS13-1-2-2021-06"
    assert https["defaultActions"][0]["type"] == "forward"
    http = plan.inputs(LISTENER, "s-http")
    assert http["defaultActions"][0]["type"] == "redirect"
    assert http["defaultActions"][0]["redirect"]["protocol"] == "HTTPS"
    assert plan.inputs(INGRESS, "s-alb-https")["fromPort"] == 443
    assert plan.one(LISTENER, "s-https")["urn"] in plan.one("aws:ecs/service:Service")["dependsOn"]
    assert plan.inputs("aws:lb/loadBalancer:LoadBalancer")["enableDeletionProtection"] is True
    # the domain's alias record points at the load balancer (its DNS name and zone)
    record = plan.one("aws:route53/record:Record")
    assert (record["inputs"]["name"], record["inputs"]["type"]) == ("app.example.com", "A")
    assert record["inputs"]["zoneId"] == "Z0ABC"
    assert {e["name"] for e in plan.fed_by(record, "aliases")} == {"s-alb"}


def test_tls_without_a_zone_creates_no_record(run) -> None:
    tls = ServiceTls(domain_name="app.example.com", certificate_arn=CERT)
    plan = run(lambda: Service("s", args(tls=tls)))
    assert plan.of("aws:route53/record:Record") == []
    assert plan.inputs(LISTENER, "s-https")["certificateArn"] == CERT


def test_service_waits_for_its_execution_policy(run) -> None:
    plan = run(lambda: Service("s", args(wait_for_steady_state=True)))
    service = plan.one("aws:ecs/service:Service")
    assert plan.one("aws:iam/rolePolicy:RolePolicy", "s-execution")["urn"] in service["dependsOn"]
    assert service["inputs"]["waitForSteadyState"] is True
    assert (
        run(lambda: Service("s", args())).inputs("aws:ecs/service:Service")["waitForSteadyState"]
        is False
    )


def test_arm64(run) -> None:
    plan = run(lambda: Service("s", args(architecture="arm64")))
    assert plan.inputs("docker:index/image:Image")["build"]["platform"] == "linux/arm64"
    task = plan.inputs("aws:ecs/taskDefinition:TaskDefinition")
    assert task["runtimePlatform"]["cpuArchitecture"] == "ARM64"


def test_protect_covers_repository_and_logs(run) -> None:
    plan = run(lambda: Service("s", args(protect=True)))
    assert plan.one("aws:ecr/repository:Repository")["protect"] is True
    assert plan.inputs("aws:ecr/repository:Repository")["forceDelete"] is False
    assert plan.one("aws:cloudwatch/logGroup:LogGroup")["protect"] is True


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            {"min_count": 3, "desired_count": 2, "max_count": 4},
            "Service s: need 0 <= min_count <= desired_count <= max_count and max_count >= 1, "
            "got 3, 2, 4",
        ),
        (
            {"architecture": "riscv64"},
            "Service s: architecture must be x86_64 or arm64, got 'riscv64'",
        ),
        ({"image_tag": ""}, "Service s: image_tag must not be empty"),
        (
            {"tls": ServiceTls(domain_name="App.Example.com", certificate_arn=CERT)},
            "Service s: tls.domain_name must be a lowercase host name such as app.example.com, "
            "got 'App.Example.com'",
        ),
    ],
)
def test_guards(run, changes: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError) as info:
        run(lambda: Service("s", args(**changes)))
    assert str(info.value) == message


DIGEST = "@sha256:" + "a" * 64


def test_image_tag_changes_with_every_input_of_the_image(tmp_path) -> None:
    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text(f"FROM public.ecr.aws/amazonlinux/amazonlinux:2023-minimal{DIGEST}\n")
    tag = image_content_tag("1" * 64, dockerfile)
    assert re.fullmatch(r"[0-9a-f]{16}", tag)  # ECR: [a-zA-Z0-9_.-]{1,128}
    assert image_content_tag("1" * 64, dockerfile) == tag
    assert image_content_tag("2" * 64, dockerfile) != tag  # the server's bytes
    dockerfile.write_text(dockerfile.read_text() + "USER 65532\n")
    assert image_content_tag("1" * 64, dockerfile) != tag  # the Dockerfile's
    dockerfile.write_text(dockerfile.read_text().replace("a" * 64, "b" * 64))
    assert image_content_tag("1" * 64, dockerfile) != tag  # the base image's digest


def test_scratch_and_earlier_stages_need_no_digest(tmp_path) -> None:
    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text(f"FROM x{DIGEST} AS build\nFROM build AS test\nFROM scratch\n")
    assert re.fullmatch(r"[0-9a-f]{16}", image_content_tag("1" * 64, dockerfile))


def test_the_project_dockerfile_pins_its_base(root) -> None:
    assert re.fullmatch(r"[0-9a-f]{16}", image_content_tag("0" * 64, root / "app" / "Dockerfile"))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "FROM amazonlinux:2023-minimal\n",
            "FROM amazonlinux:2023-minimal is not pinned by digest, so a new base image under "
            "the same tag would make a new image under an existing (immutable) tag; pin it: "
            "FROM amazonlinux:2023-minimal@sha256:<digest> (`docker buildx imagetools inspect "
            "amazonlinux:2023-minimal` prints it)",
        ),
        (
            "ARG BASE=amazonlinux:2023\nFROM ${BASE}\n",
            "FROM ${BASE} takes the base image from a build argument, which the image tag "
            "cannot see; write the image in the FROM line, pinned by digest",
        ),
        (f"FROM x{DIGEST} AS build\nFROM debian:12\n", "FROM debian:12 is not pinned by digest"),
        ("COPY server /app/server\n", "has no FROM line; restore app/Dockerfile"),
    ],
)
def test_an_unpinned_base_image_is_refused(tmp_path, text: str, message: str) -> None:
    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text(text)
    with pytest.raises(ImageError) as info:
        image_content_tag("1" * 64, dockerfile)
    assert message in str(info.value)
