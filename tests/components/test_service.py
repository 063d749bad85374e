"""components/service.py under mocks."""

from __future__ import annotations

import json

import pytest

from components.service import Service, ServiceArgs
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
    plan = run(lambda: Service("s", args(rust_log="debug", migrate_on_start=False)))
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
        "DB_SSLMODE": "require",
        "PORT": "8080",
        "RUST_LOG": "debug",
        "MIGRATE_ON_START": "false",
    }
    assert container["secrets"] == [
        {"name": "DB_USERNAME", "valueFrom": f"{SECRET}:username::"},
        {"name": "DB_PASSWORD", "valueFrom": f"{SECRET}:password::"},
    ]
    assert "@sha256:" in container["image"]
    log_group = plan.inputs("aws:cloudwatch/logGroup:LogGroup")
    assert container["logConfiguration"]["options"]["awslogs-group"] == log_group["name"]
    assert log_group["retentionInDays"] == 14


def test_execution_role_is_least_privilege(run) -> None:
    plan = run(lambda: Service("s", args()))
    policy = policy_json(plan.inputs("aws:iam/rolePolicy:RolePolicy", "s-execution")["policy"])
    resources = {json.dumps(st["Action"]): st["Resource"] for st in policy["Statement"]}
    assert resources['"secretsmanager:GetSecretValue"'] == SECRET
    assert resources['"ecr:GetAuthorizationToken"'] == "*"
    assert all(st["Action"] != "*" for st in policy["Statement"])
    assert plan.of("aws:iam/rolePolicy:RolePolicy") == [
        plan.one("aws:iam/rolePolicy:RolePolicy", "s-execution")
    ]  # the task role has no policy


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


def test_certificate_serves_https_and_redirects_http(run) -> None:
    plan = run(
        lambda: Service("s", args(certificate_arn=CERT, load_balancer_deletion_protection=True))
    )
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
            {"certificate_arn": "arn:aws:iam::123456789012:server-certificate/x"},
            "Service s: certificate_arn must be an ACM certificate ARN "
            "(arn:aws:acm:<region>:<account>:certificate/<uuid>), "
            "got 'arn:aws:iam::123456789012:server-certificate/x'",
        ),
    ],
)
def test_guards(run, changes: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError) as info:
        run(lambda: Service("s", args(**changes)))
    assert str(info.value) == message
