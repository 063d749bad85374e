"""What the rule modules share: type tokens, limits, the secret-name heuristic."""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from policy.model import (
    COMPUTED,
    ResourceRule,
    Rule,
    as_list,
)

# ---- resource type tokens ------------------------------------------------------------------
LAMBDA_FUNCTION = "aws:lambda/function:Function"
LAMBDA_PERMISSION = "aws:lambda/permission:Permission"
API_METHOD = "aws:apigateway/method:Method"
API_STAGE = "aws:apigateway/stage:Stage"
API_METHOD_SETTINGS = "aws:apigateway/methodSettings:MethodSettings"
API_REST_API = "aws:apigateway/restApi:RestApi"
API_DOMAIN_NAME = "aws:apigateway/domainName:DomainName"
LISTENERS = frozenset({"aws:lb/listener:Listener", "aws:alb/listener:Listener"})
ECS_CLUSTER = "aws:ecs/cluster:Cluster"
ECS_SERVICE = "aws:ecs/service:Service"
ECS_TASK_DEFINITION = "aws:ecs/taskDefinition:TaskDefinition"
ECR_REPOSITORY = "aws:ecr/repository:Repository"
ECR_LIFECYCLE_POLICY = "aws:ecr/lifecyclePolicy:LifecyclePolicy"
RDS_INSTANCE = "aws:rds/instance:Instance"
IAM_POLICY = "aws:iam/policy:Policy"
IAM_ROLE = "aws:iam/role:Role"
IAM_ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
IAM_ROLE_POLICY_ATTACHMENT = "aws:iam/rolePolicyAttachment:RolePolicyAttachment"
IAM_USER_TYPES = frozenset(
    {
        "aws:iam/user:User",
        "aws:iam/userPolicy:UserPolicy",
        "aws:iam/userPolicyAttachment:UserPolicyAttachment",
        "aws:iam/accessKey:AccessKey",
    }
)
LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"
EVENT_TARGET = "aws:cloudwatch/eventTarget:EventTarget"
SQS_QUEUE = "aws:sqs/queue:Queue"
SQS_QUEUE_POLICY = "aws:sqs/queuePolicy:QueuePolicy"
SECURITY_GROUP = "aws:ec2/securityGroup:SecurityGroup"
SECURITY_GROUP_RULE = "aws:ec2/securityGroupRule:SecurityGroupRule"
SG_INGRESS_RULE = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
DEFAULT_SECURITY_GROUP = "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup"
SUBNET = "aws:ec2/subnet:Subnet"
LOAD_BALANCERS = frozenset(
    {"aws:lb/loadBalancer:LoadBalancer", "aws:alb/loadBalancer:LoadBalancer"}
)

# Lambda runtimes AWS supports (not deprecated) as of 2026; Lambda.2 fails on anything else.
SUPPORTED_LAMBDA_RUNTIMES = frozenset(
    {
        "provided.al2023",
        "provided.al2",
        "python3.10",
        "python3.11",
        "python3.12",
        "python3.13",
        "nodejs20.x",
        "nodejs22.x",
        "java11",
        "java17",
        "java21",
        "dotnet8",
        "ruby3.3",
        "ruby3.4",
    }
)
# Values CloudWatch Logs accepts for retentionInDays (0 would mean "never expire").
# fmt: off
LOG_RETENTION_DAYS = frozenset({
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922,
    3288, 3653,
})
# fmt: on
# EC2.18: the only ports that may be open to the whole internet (the ALB's listeners).
PUBLIC_PORTS = frozenset({80, 443})
OPEN_CIDRS = frozenset({"0.0.0.0/0", "::/0"})
POSTGRES_PORT = 5432
# IAM managed policies that grant administrative access (IAM.1 in spirit: never attach them).
ADMIN_MANAGED_POLICIES = frozenset(
    {
        "arn:aws:iam::aws:policy/AdministratorAccess",
        "arn:aws:iam::aws:policy/PowerUserAccess",
        "arn:aws:iam::aws:policy/IAMFullAccess",
    }
)
# ECS.8: variable names AWS Config's ecs-no-environment-secrets checks by default.
ECS_SECRET_ENV_NAMES = frozenset(
    {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "ECS_ENGINE_AUTH_DATA"}
)

# An environment variable whose name has one of these words holds a secret...
_SECRET_WORDS = frozenset(
    {"PASSWORD", "PASSWD", "PWD", "SECRET", "TOKEN", "APIKEY", "CREDENTIAL", "CREDENTIALS"}
)
_SECRET_PAIRS = (("API", "KEY"), ("PRIVATE", "KEY"), ("ACCESS", "KEY"), ("SIGNING", "KEY"))
# ...unless its last word says it is a reference to one or a setting about them.
_REFERENCE_SUFFIXES = frozenset(
    {"ARN", "ID", "NAME", "PATH", "FILE", "URL", "HEADER", "DAYS", "HOURS", "SECONDS", "TTL"}
)
_AWS_ACCESS_KEY = re.compile(r"\b(AKIA|ASIA)[0-9A-Z]{16}\b")


def secret_env_problem(name: str, value: Any) -> str | None:
    """Why an environment variable looks like it carries a secret, or None.

    ``DB_PASSWORD``, ``API_TOKEN`` and ``AWS_SECRET_ACCESS_KEY`` do; ``DB_SECRET_ARN`` (a
    reference) and ``TOKEN_RETENTION_DAYS`` (a setting) do not. A value shaped like an AWS
    access key id is flagged whatever the name.
    """
    words = [w for w in re.split(r"[^A-Za-z0-9]+", name.upper()) if w]
    if isinstance(value, str) and _AWS_ACCESS_KEY.search(value):
        return f"{name} holds an AWS access key id"
    if not words or words[-1] in _REFERENCE_SUFFIXES:
        return None
    pairs = set(itertools.pairwise(words))
    if _SECRET_WORDS.intersection(words) or pairs.intersection(_SECRET_PAIRS):
        shown = "a computed value" if value == COMPUTED else "a literal value"
        return f"{name} is named like a secret and holds {shown}"
    return None


def env_secrets(variables: Mapping[str, Any] | None) -> Iterator[str]:
    for key, value in (variables or {}).items():
        problem = secret_env_problem(str(key), value)
        if problem:
            yield (
                f"secrets never go in environment variables; got {problem}; store it in "
                f"Secrets Manager and pass its ARN (e.g. {key.rsplit('_', 1)[0]}_SECRET_ARN)"
            )


def statements(document: Any) -> list[Mapping[str, Any]]:
    if not isinstance(document, Mapping):
        return []
    return [s for s in as_list(document.get("Statement")) if isinstance(s, Mapping)]


def rule(name: str, control: str, types: Iterable[str], check: Any, description: str) -> Rule:
    """A rule on single resources of `types`."""
    return ResourceRule(name, control, description, frozenset(types), check)
