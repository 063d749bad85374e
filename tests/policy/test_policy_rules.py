"""Every guardrail trips on a resource that breaks it and passes one that follows it."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from policy.engine import evaluate
from policy.model import COMPUTED, Resource, ResourceRule, StackRule, Violation
from policy.rules import RULES, secret_env_problem

DEV = "urn:pulumi:dev::rust-on-aws::"
PROD = "urn:pulumi:prod::rust-on-aws::"

CONTAINER = {
    "name": "api",
    "image": "repo@sha256:abc",
    "readonlyRootFilesystem": True,
    "privileged": False,
    "logConfiguration": {"logDriver": "awslogs", "options": {"awslogs-group": "/ecs/api"}},
    "environment": [{"name": "DB_HOST", "value": "db"}, {"name": "PORT", "value": "8080"}],
    "secrets": [{"name": "DB_PASSWORD", "valueFrom": "arn:aws:secretsmanager:...:password::"}],
}
POLICY_OK = {
    "Version": "2012-10-17",
    "Statement": [
        {"Effect": "Allow", "Action": ["secretsmanager:GetSecretValue"], "Resource": "arn:x"}
    ],
}

OPENAPI_OK: dict[str, Any] = {
    "openapi": "3.0.1",
    "paths": {
        "/devices": {"get": {"security": [{"token": []}]}, "post": {"security": [{"token": []}]}}
    },
    "components": {
        "securitySchemes": {
            "token": {
                "type": "apiKey",
                "x-amazon-apigateway-authtype": "custom",
                "x-amazon-apigateway-authorizer": {"type": "token"},
            },
            "key": {"type": "apiKey", "name": "x-api-key", "in": "header"},
        }
    },
}


def openapi(**ops: dict) -> str:
    """OPENAPI_OK with operations of /devices replaced (method -> operation)."""
    doc = copy.deepcopy(OPENAPI_OK)
    doc["paths"]["/devices"].update(ops)
    return json.dumps(doc)


# ARN formats of the Service Authorization Reference (SQS, SNS: arn:aws:<service>:<region>:
# <account>:<name>, https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazonsqs.html).
DLQ_ARN = "arn:aws:sqs:eu-west-1:123456789012:rust-on-aws-dev-events-dlq"
TOPIC_ARN = "arn:aws:sns:eu-west-1:123456789012:rust-on-aws-dev-alarms"

# A resource of each type that follows every rule: cases below break one thing at a time.
GOOD: dict[str, dict[str, Any]] = {
    "aws:lambda/function:Function": {
        "name": "rust-on-aws-dev-handler",
        "runtime": "provided.al2023",
        "handler": "bootstrap",
        "vpcConfig": {"subnetIds": ["subnet-a", "subnet-b"], "securityGroupIds": ["sg-1"]},
        "environment": {
            "variables": {"DB_SECRET_ARN": "arn:aws:secretsmanager:x", "TOKEN_RETENTION_DAYS": "7"}
        },
    },
    "aws:lambda/permission:Permission": {
        "action": "lambda:InvokeFunction",
        "principal": "apigateway.amazonaws.com",
        "sourceArn": COMPUTED,
    },
    "aws:apigateway/method:Method": {"authorization": "CUSTOM", "authorizerId": COMPUTED},
    "aws:apigateway/stage:Stage": {
        "accessLogSettings": {"destinationArn": COMPUTED, "format": "$context.requestId"},
        "xrayTracingEnabled": True,
    },
    "aws:apigateway/methodSettings:MethodSettings": {
        "methodPath": "*/*",
        "settings": {"throttlingRateLimit": 50, "throttlingBurstLimit": 100},
    },
    "aws:ecs/cluster:Cluster": {"settings": [{"name": "containerInsights", "value": "enabled"}]},
    "aws:ecs/service:Service": {
        "launchType": "FARGATE",
        "networkConfiguration": {"assignPublicIp": False, "subnets": ["a", "b"]},
    },
    "aws:ecs/taskDefinition:TaskDefinition": {
        "networkMode": "awsvpc",
        "requiresCompatibilities": ["FARGATE"],
        "containerDefinitions": json.dumps([CONTAINER]),
    },
    "aws:ecr/repository:Repository": {
        "name": "rust-on-aws-dev-api",
        "imageTagMutability": "IMMUTABLE",
        "imageScanningConfiguration": {"scanOnPush": True},
    },
    "aws:rds/instance:Instance": {
        "engine": "postgres",
        "storageEncrypted": True,
        "publiclyAccessible": False,
        "multiAz": True,
        "deletionProtection": True,
        "backupRetentionPeriod": 7,
        "manageMasterUserPassword": True,
    },
    "aws:iam/policy:Policy": {"policy": json.dumps(POLICY_OK)},
    "aws:iam/rolePolicy:RolePolicy": {"policy": json.dumps(POLICY_OK)},
    "aws:iam/role:Role": {"inlinePolicies": [{"name": "x", "policy": json.dumps(POLICY_OK)}]},
    "aws:iam/rolePolicyAttachment:RolePolicyAttachment": {
        "policyArn": "arn:aws:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole"
    },
    "aws:cloudwatch/logGroup:LogGroup": {"name": "/ecs/api", "retentionInDays": 14},
    "aws:cloudwatch/eventTarget:EventTarget": {
        "arn": COMPUTED,
        "deadLetterConfig": {"arn": DLQ_ARN},
        "retryPolicy": {"maximumRetryAttempts": 3, "maximumEventAgeInSeconds": 3600},
    },
    "aws:sqs/queue:Queue": {"name": "rust-on-aws-dev-events-dlq", "sqsManagedSseEnabled": True},
    "aws:sqs/queuePolicy:QueuePolicy": {
        "policy": json.dumps(
            {
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"Service": "events.amazonaws.com"},
                        "Action": "sqs:SendMessage",
                    }
                ]
            }
        )
    },
    "aws:ec2/securityGroup:SecurityGroup": {
        "ingress": [
            {"protocol": "tcp", "fromPort": 443, "toPort": 443, "cidrBlocks": ["0.0.0.0/0"]}
        ]
    },
    "aws:ec2/securityGroupRule:SecurityGroupRule": {
        "type": "ingress",
        "protocol": "tcp",
        "fromPort": 5432,
        "toPort": 5432,
        "sourceSecurityGroupId": COMPUTED,
    },
    "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule": {
        "ipProtocol": "tcp",
        "fromPort": 80,
        "toPort": 80,
        "cidrIpv4": "0.0.0.0/0",
    },
    "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup": {"vpcId": COMPUTED},
    "aws:ec2/subnet:Subnet": {"cidrBlock": "10.0.0.0/24", "mapPublicIpOnLaunch": False},
    "aws:lb/loadBalancer:LoadBalancer": {
        "loadBalancerType": "application",
        "subnets": ["a", "b"],
        "dropInvalidHeaderFields": True,
        "enableDeletionProtection": True,
    },
    "aws:apigateway/restApi:RestApi": {
        "securityPolicy": "TLS_1_2",
        "body": json.dumps(OPENAPI_OK),
    },
    "aws:apigateway/domainName:DomainName": {
        "domainName": "api.example.com",
        "securityPolicy": "TLS_1_2",
    },
    "aws:lb/listener:Listener": {
        "port": 443,
        "protocol": "HTTPS",
        "sslPolicy": "ELBSecurityPolicy-TLS13-1-2-2021-06",
        "defaultActions": [{"type": "forward", "targetGroupArn": COMPUTED}],
    },
    # The handler's Errors alarm (AWS/Lambda Errors by FunctionName, documented at
    # https://docs.aws.amazon.com/lambda/latest/dg/monitoring-metrics-types.html).
    "aws:cloudwatch/metricAlarm:MetricAlarm": {
        "name": "rust-on-aws-dev-handler-errors",
        "namespace": "AWS/Lambda",
        "metricName": "Errors",
        "dimensions": {"FunctionName": "rust-on-aws-dev-handler"},
        "statistic": "Sum",
        "comparisonOperator": "GreaterThanOrEqualToThreshold",
        "threshold": 1,
        "alarmActions": [TOPIC_ARN],
        "okActions": [TOPIC_ARN],
    },
    "aws:sns/topic:Topic": {"name": "rust-on-aws-dev-alarms", "kmsMasterKeyId": COMPUTED},
    "aws:lambda/alias:Alias": {
        "name": "live",
        "functionName": "rust-on-aws-dev-handler",
        "functionVersion": "1",
    },
    "aws:codedeploy/application:Application": {
        "name": "rust-on-aws-dev-deploy",
        "computePlatform": "Lambda",
    },
    "aws:codedeploy/deploymentGroup:DeploymentGroup": {
        "appName": "rust-on-aws-dev-deploy",
        "deploymentGroupName": "rust-on-aws-dev-handler",
        "alarmConfiguration": {"enabled": True, "alarms": ["rust-on-aws-dev-handler-errors"]},
        "autoRollbackConfiguration": {
            "enabled": True,
            "events": ["DEPLOYMENT_FAILURE", "DEPLOYMENT_STOP_ON_ALARM"],
        },
    },
}
#: The resource options a resource of that type needs to pass (CodeDeploy owns the alias).
GOOD_IGNORED: dict[str, tuple[str, ...]] = {
    "aws:lambda/alias:Alias": ("functionVersion", "routingConfig"),
}


def res(
    type_: str,
    urn: str = DEV,
    rname: str = "r",
    parent: str | None = None,
    ignore: tuple[str, ...] | None = None,
    **changes: Any,
) -> Resource:
    """A GOOD resource `rname` of `type_` with top-level inputs changed (None removes a key);
    `ignore` replaces its `ignore_changes` option (default: what GOOD_IGNORED gives it)."""
    props = copy.deepcopy(GOOD[type_])
    for key, value in changes.items():
        if value is None:
            props.pop(key, None)
        else:
            props[key] = value
    ignored = GOOD_IGNORED.get(type_, ()) if ignore is None else ignore
    return Resource(
        type_, rname, props, urn=f"{urn}{type_}::{rname}", parent=parent, ignore_changes=ignored
    )


def container(**changes: Any) -> str:
    c = {**CONTAINER, **changes}
    return json.dumps([{k: v for k, v in c.items() if v is not None}])


def doc(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


FN = "aws:lambda/function:Function"
LOG = "aws:cloudwatch/logGroup:LogGroup"
REPO = "aws:ecr/repository:Repository"
LIFECYCLE = "aws:ecr/lifecyclePolicy:LifecyclePolicy"
TD = "aws:ecs/taskDefinition:TaskDefinition"
RDS = "aws:rds/instance:Instance"
SG = "aws:ec2/securityGroup:SecurityGroup"
SGR = "aws:ec2/securityGroupRule:SecurityGroupRule"
LB = "aws:lb/loadBalancer:LoadBalancer"
LISTENER = "aws:lb/listener:Listener"
API = "aws:apigateway/restApi:RestApi"


def _fn_logs(group_name: str | None, **fn_changes: Any) -> list[Resource]:
    group = [] if group_name is None else [res(LOG, rname="logs", name=group_name)]
    return [*group, res(FN, rname="fn", **fn_changes)]


ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
TOPIC = "aws:sns/topic:Topic"
ALIAS = "aws:lambda/alias:Alias"
APP = "aws:codedeploy/application:Application"
GROUP = "aws:codedeploy/deploymentGroup:DeploymentGroup"
QUEUE = "aws:sqs/queue:Queue"
TARGET = "aws:cloudwatch/eventTarget:EventTarget"
INVOKE_CONFIG = "aws:lambda/functionEventInvokeConfig:FunctionEventInvokeConfig"


def dlq_alarm(urn: str = DEV, **changes: Any) -> Resource:
    """An alarm on the first visible message of the GOOD queue (AWS/SQS, by QueueName:
    https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-available-cloudwatch-metrics.html)."""
    base: dict[str, Any] = {
        "name": "rust-on-aws-dev-events-dlq-visible",
        "namespace": "AWS/SQS",
        "metricName": "ApproximateNumberOfMessagesVisible",
        "dimensions": {"QueueName": "rust-on-aws-dev-events-dlq"},
        "statistic": "Maximum",
    }
    return res(ALARM, urn=urn, rname="dlq-alarm", **{**base, **changes})


def deployed(urn: str = PROD, **group_changes: Any) -> list[Resource]:
    """The handler as production deploys it: its Errors alarm on the topic, its alias left to
    CodeDeploy, a deployment group named after it that rolls back on that alarm."""
    return [
        res(FN, urn=urn, rname="handler"),
        res(ALARM, urn=urn, rname="errors"),
        res(TOPIC, urn=urn, rname="topic"),
        res(ALIAS, urn=urn, rname="handler-live"),
        res(APP, urn=urn, rname="app"),
        res(GROUP, urn=urn, rname="group", **group_changes),
    ]


def _repo_and_policy(repository: str | None) -> list[Resource]:
    repo = res(REPO, rname="repo", parent="svc")
    if repository is None:
        return [repo]
    policy = Resource(LIFECYCLE, "repo-lifecycle", {"repository": repository}, parent="svc")
    return [repo, policy]


# rule name -> (resources that break it, resources that follow it)
Case = tuple[list[Resource], list[Resource]]
CASES: dict[str, Case] = {
    "lambda-supported-runtime": ([res(FN, runtime="go1.x")], [res(FN)]),
    "lambda-in-vpc": (
        [res(FN, vpcConfig=None)],
        [
            res(FN),
            # a function that reaches nothing private (database = false) may stay out
            res(FN, vpcConfig=None, environment={"variables": {"RUST_LOG": "info"}}),
        ],
    ),
    "lambda-multi-az": (
        [res(FN, vpcConfig={"subnetIds": ["a"], "securityGroupIds": ["sg"]})],
        [res(FN, vpcConfig={"subnetIds": [COMPUTED, COMPUTED], "securityGroupIds": ["sg"]})],
    ),
    "lambda-no-secret-in-environment": (
        [res(FN, environment={"variables": {"DB_PASSWORD": "hunter2"}})],
        [res(FN, environment={"variables": {"DB_SECRET_ARN": "arn:x", "RUST_LOG": "info"}})],
    ),
    "lambda-permission-scoped": (
        [res("aws:lambda/permission:Permission", sourceArn=None)],
        [res("aws:lambda/permission:Permission")],
    ),
    "lambda-log-group-retention": (
        _fn_logs(None),
        _fn_logs("/aws/lambda/rust-on-aws-dev-handler"),
    ),
    "apigateway-method-authorized": (
        [
            res("aws:apigateway/method:Method", authorization="NONE", authorizerId=None),
            res(API, body=openapi(get={})),
            res(API, body=openapi(get={"security": []})),
            res(API, body=openapi(get={"security": [{}]})),
            res(API, body=openapi(post={"security": [{"key": []}]})),
            res(API, body=openapi(delete={"security": [{"nope": []}]})),
        ],
        [
            res("aws:apigateway/method:Method"),
            res(API),
            res(API, body=None),
            res(API, body=json.dumps({**OPENAPI_OK, "security": [{"token": []}]})),
        ],
    ),
    "apigateway-tls12": (
        [
            res(API, securityPolicy=None),
            res(API, securityPolicy="TLS_1_0"),
            res("aws:apigateway/domainName:DomainName", securityPolicy="TLS_1_0"),
            res("aws:apigateway/domainName:DomainName", securityPolicy=None),
        ],
        [
            res(API),
            res(API, securityPolicy="SecurityPolicy_TLS13_1_3_2025_09"),
            res(API, securityPolicy=None, disableExecuteApiEndpoint=True),
            res("aws:apigateway/domainName:DomainName"),
            res(
                "aws:apigateway/domainName:DomainName",
                securityPolicy="SecurityPolicy_TLS13_1_2_2021_06",
            ),
        ],
    ),
    "alb-http-redirects-to-https": (
        [
            res(LISTENER, port=80, protocol="HTTP", sslPolicy=None),
            res(
                LISTENER,
                port=80,
                protocol="HTTP",
                sslPolicy=None,
                defaultActions=[{"type": "redirect", "redirect": {"protocol": "HTTP"}}],
            ),
        ],
        [
            res(LISTENER),
            res(
                LISTENER,
                port=80,
                protocol="HTTP",
                sslPolicy=None,
                defaultActions=[
                    {"type": "redirect", "redirect": {"protocol": "HTTPS", "port": "443"}}
                ],
            ),
        ],
    ),
    "alb-tls-policy": (
        [
            res(LISTENER, sslPolicy="ELBSecurityPolicy-2016-08"),
            res(LISTENER, sslPolicy="ELBSecurityPolicy-TLS-1-1-2017-01"),
            res(LISTENER, sslPolicy=None),
        ],
        [
            res(LISTENER),
            res(LISTENER, sslPolicy="ELBSecurityPolicy-TLS13-1-3-2021-06"),
            res(LISTENER, port=80, protocol="HTTP", sslPolicy=None),
        ],
    ),
    "apigateway-stage-access-logging": (
        [res("aws:apigateway/stage:Stage", accessLogSettings=None)],
        [res("aws:apigateway/stage:Stage")],
    ),
    "apigateway-stage-xray": (
        [res("aws:apigateway/stage:Stage", xrayTracingEnabled=False)],
        [res("aws:apigateway/stage:Stage")],
    ),
    "apigateway-cache-encrypted": (
        [
            res(
                "aws:apigateway/methodSettings:MethodSettings",
                settings={
                    "throttlingRateLimit": 1,
                    "throttlingBurstLimit": 1,
                    "cachingEnabled": True,
                },
            )
        ],
        [
            res(
                "aws:apigateway/methodSettings:MethodSettings",
                settings={
                    "throttlingRateLimit": 1,
                    "throttlingBurstLimit": 1,
                    "cachingEnabled": True,
                    "cacheDataEncrypted": True,
                },
            )
        ],
    ),
    "apigateway-stage-throttled": (
        [res("aws:apigateway/methodSettings:MethodSettings", settings={"loggingLevel": "INFO"})],
        [res("aws:apigateway/methodSettings:MethodSettings")],
    ),
    "ecs-service-no-public-ip": (
        [res("aws:ecs/service:Service", networkConfiguration={"assignPublicIp": True})],
        [res("aws:ecs/service:Service")],
    ),
    "ecs-fargate-latest-platform": (
        [res("aws:ecs/service:Service", platformVersion="1.3.0")],
        [res("aws:ecs/service:Service", platformVersion="LATEST")],
    ),
    "ecs-cluster-container-insights": (
        [res("aws:ecs/cluster:Cluster", settings=None)],
        [res("aws:ecs/cluster:Cluster")],
    ),
    "ecs-task-no-host-pid": ([res(TD, pidMode="host")], [res(TD, pidMode="task")]),
    "ecs-task-awsvpc": ([res(TD, networkMode="host")], [res(TD)]),
    "ecs-containers-unprivileged": (
        [res(TD, containerDefinitions=container(privileged=True))],
        [res(TD)],
    ),
    "ecs-containers-readonly-root": (
        [res(TD, containerDefinitions=container(readonlyRootFilesystem=None))],
        [res(TD)],
    ),
    "ecs-containers-logging": (
        [res(TD, containerDefinitions=container(logConfiguration=None))],
        [res(TD)],
    ),
    "ecs-no-secret-in-environment": (
        [
            res(
                TD,
                containerDefinitions=container(
                    environment=[{"name": "AWS_SECRET_ACCESS_KEY", "value": "abc"}]
                ),
            )
        ],
        [res(TD)],
    ),
    "ecr-scan-on-push": ([res(REPO, imageScanningConfiguration=None)], [res(REPO)]),
    "ecr-immutable-tags": ([res(REPO, imageTagMutability="MUTABLE")], [res(REPO)]),
    "ecr-lifecycle-policy": (_repo_and_policy(None), _repo_and_policy("rust-on-aws-dev-api")),
    "rds-not-public": ([res(RDS, publiclyAccessible=True)], [res(RDS)]),
    "rds-encrypted": ([res(RDS, storageEncrypted=None)], [res(RDS)]),
    "rds-multi-az-in-prod": (
        [res(RDS, urn=PROD, multiAz=False)],
        [res(RDS, urn=PROD), res(RDS, urn=DEV, multiAz=False)],
    ),
    "rds-deletion-protection-in-prod": (
        [res(RDS, urn=PROD, deletionProtection=False)],
        [res(RDS, urn=PROD), res(RDS, urn=DEV, deletionProtection=False)],
    ),
    "rds-backups": (
        [res(RDS, urn=PROD, backupRetentionPeriod=1), res(RDS, backupRetentionPeriod=0)],
        [res(RDS, urn=PROD), res(RDS, urn=DEV, backupRetentionPeriod=1)],
    ),
    "rds-auto-minor-upgrade": ([res(RDS, autoMinorVersionUpgrade=False)], [res(RDS)]),
    "rds-managed-master-password": (
        [res(RDS, manageMasterUserPassword=None, password="hunter2")],
        [res(RDS)],
    ),
    "iam-no-wildcard-action": (
        [
            res("aws:iam/policy:Policy", policy=doc({"Effect": "Allow", "Action": "*"})),
            res("aws:iam/rolePolicy:RolePolicy", policy=doc({"Action": ["s3:*"]})),
            res("aws:iam/role:Role", inlinePolicies=[{"policy": doc({"NotAction": "iam:*"})}]),
        ],
        [
            res("aws:iam/policy:Policy"),
            res("aws:iam/rolePolicy:RolePolicy", policy=doc({"Effect": "Deny", "Action": "*"})),
            res("aws:iam/role:Role"),
        ],
    ),
    "iam-no-admin-policy": (
        [
            res(
                "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
                policyArn="arn:aws:iam::aws:policy/AdministratorAccess",
            ),
            res(
                "aws:iam/role:Role",
                managedPolicyArns=["arn:aws:iam::aws:policy/PowerUserAccess"],
            ),
        ],
        [res("aws:iam/rolePolicyAttachment:RolePolicyAttachment"), res("aws:iam/role:Role")],
    ),
    "iam-no-users": ([Resource("aws:iam/user:User", "ci-user", {})], [res(FN)]),
    "log-group-retention": (
        [res(LOG, retentionInDays=None), res(LOG, retentionInDays=0)],
        [res(LOG)],
    ),
    "eventbridge-target-dlq-and-retry": (
        [res("aws:cloudwatch/eventTarget:EventTarget", deadLetterConfig=None)],
        [res("aws:cloudwatch/eventTarget:EventTarget")],
    ),
    "sqs-encrypted": (
        [res("aws:sqs/queue:Queue", sqsManagedSseEnabled=False)],
        [res("aws:sqs/queue:Queue"), res("aws:sqs/queue:Queue", kmsMasterKeyId="alias/x")],
    ),
    "sqs-policy-not-public": (
        [res("aws:sqs/queuePolicy:QueuePolicy", policy=doc({"Principal": "*", "Action": "sqs:*"}))],
        [res("aws:sqs/queuePolicy:QueuePolicy")],
    ),
    "sg-public-ingress-web-ports-only": (
        [
            res(
                SG,
                ingress=[
                    {"protocol": "tcp", "fromPort": 22, "toPort": 22, "cidrBlocks": ["0.0.0.0/0"]}
                ],
            ),
            res(
                SG,
                ingress=[
                    {"protocol": "-1", "fromPort": 0, "toPort": 0, "ipv6CidrBlocks": ["::/0"]}
                ],
            ),
            res(
                SGR, sourceSecurityGroupId=None, fromPort=0, toPort=65535, cidrBlocks=["0.0.0.0/0"]
            ),
        ],
        [res(SG), res(SGR), res("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule")],
    ),
    "sg-database-from-security-groups": (
        [res(SGR, sourceSecurityGroupId=None, cidrBlocks=["10.0.0.0/16"])],
        [res(SGR)],
    ),
    "default-sg-closed": (
        [
            res(
                "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup",
                ingress=[{"protocol": "-1", "self": True}],
            )
        ],
        [res("aws:ec2/defaultSecurityGroup:DefaultSecurityGroup")],
    ),
    "subnet-no-auto-public-ip": (
        [res("aws:ec2/subnet:Subnet", mapPublicIpOnLaunch=True)],
        [res("aws:ec2/subnet:Subnet")],
    ),
    "alb-drop-invalid-headers": ([res(LB, dropInvalidHeaderFields=None)], [res(LB)]),
    "alb-desync-mitigation": ([res(LB, desyncMitigationMode="monitor")], [res(LB)]),
    "alb-multi-az": ([res(LB, subnets=["a"])], [res(LB)]),
    "alb-deletion-protection-in-prod": (
        [res(LB, urn=PROD, enableDeletionProtection=None)],
        [res(LB, urn=PROD), res(LB, enableDeletionProtection=None)],
    ),
    "lambda-errors-alarm": (
        [res(FN), res(ALARM, dimensions={"FunctionName": "rust-on-aws-dev-timer"})],
        [res(FN), res(ALARM)],
    ),
    "dlq-alarm": ([res(TARGET), res(QUEUE)], [res(TARGET), res(QUEUE), dlq_alarm()]),
    "alarm-actions-stack-topic": (
        [res(ALARM), res(TOPIC, name="rust-on-aws-sandbox-alarms")],
        [res(ALARM), res(TOPIC)],
    ),
    "lambda-codedeploy-in-prod": (
        [r for r in deployed() if r.type != GROUP],
        [*deployed(), res(FN, urn=DEV, rname="dev-fn", name="rust-on-aws-dev-timer")],
    ),
}

RULES_BY_NAME = {rule.name: rule for rule in RULES}


def test_every_rule_has_a_case_and_names_are_unique() -> None:
    assert len(RULES_BY_NAME) == len(RULES)
    assert sorted(CASES) == sorted(RULES_BY_NAME)


def _violations_of(rule_name: str, resources: list[Resource]) -> list[Violation]:
    return [v for v in evaluate(resources).violations if v.rule == rule_name]


@pytest.mark.parametrize("rule_name", sorted(CASES))
def test_rule_trips_on_a_resource_that_breaks_it(rule_name: str) -> None:
    bad, _ = CASES[rule_name]
    found = _violations_of(rule_name, bad)
    rule = RULES_BY_NAME[rule_name]
    assert found, f"{rule_name} did not trip on {bad}"
    if isinstance(rule, ResourceRule):
        for resource in bad:  # each bad resource trips it on its own
            assert _violations_of(rule_name, [resource]), f"{rule_name} passed {resource}"
    for violation in found:
        assert violation.control == rule.control
        assert "; got " in violation.message, violation.message  # rule; actual value; fix


@pytest.mark.parametrize("rule_name", sorted(CASES))
def test_rule_passes_a_resource_that_follows_it(rule_name: str) -> None:
    _, good = CASES[rule_name]
    assert _violations_of(rule_name, good) == []


def test_good_baseline_passes_every_rule() -> None:
    resources = [res(t, urn=PROD, rname=f"r{i}") for i, t in enumerate(GOOD)] + [
        Resource(LIFECYCLE, "lc", {"repository": "rust-on-aws-dev-api"})
    ]
    resources += [res(LOG, rname="fnlog", name="/aws/lambda/rust-on-aws-dev-handler")]
    resources += [dlq_alarm(urn=PROD)]
    report = evaluate(resources)
    assert report.violations == []
    assert report.undecided == []


@pytest.mark.parametrize(
    ("name", "value", "flagged"),
    [
        ("DB_PASSWORD", "x", True),
        ("PASSWORD", "x", True),
        ("API_TOKEN", "x", True),
        ("GITHUB_TOKEN", COMPUTED, True),
        ("AWS_SECRET_ACCESS_KEY", "x", True),
        ("STRIPE_API_KEY", "x", True),
        ("client_secret", "x", True),
        ("DB_SECRET_ARN", "arn:aws:secretsmanager:eu-west-1:1:secret:x", False),
        ("TOKEN_RETENTION_DAYS", "30", False),
        ("AUTH_TOKEN_TTL", "300", False),
        ("DB_HOST", "db", False),
        ("RUST_LOG", "info", False),
        ("SOMETHING", "AKIAABCDEFGHIJKLMNOP", True),
    ],
)
def test_secret_env_names(name: str, value: str, flagged: bool) -> None:
    assert (secret_env_problem(name, value) is not None) is flagged


def test_computed_values_are_undecided_not_passed() -> None:
    td = res(TD, containerDefinitions=COMPUTED)
    report = evaluate([td])
    assert report.violations == []
    assert {u.rule for u in report.undecided} >= {
        "ecs-containers-unprivileged",
        "ecs-containers-readonly-root",
    }


def test_stack_rules_see_the_whole_plan() -> None:
    stack_rules = [r for r in RULES if isinstance(r, StackRule)]
    assert {r.name for r in stack_rules} == {
        "lambda-log-group-retention",
        "ecr-lifecycle-policy",
        "iam-no-users",
        "lambda-errors-alarm",
        "dlq-alarm",
        "alarm-actions-stack-topic",
        "lambda-codedeploy-in-prod",
    }
    # a log group for another function does not satisfy this one
    wrong = _fn_logs("/aws/lambda/someone-else")
    assert _violations_of("lambda-log-group-retention", wrong)


# ---- the operations rules (policy/rules/monitoring.py), every way each one can be broken ----

AUTONAMED_DLQ = "arn:aws:sqs:eu-west-1:123456789012:rust-on-aws-dev-events-dlq-0a1b2c3"
ERRORS_MATH = [
    {
        "id": "m1",
        "metric": {
            "namespace": "AWS/Lambda",
            "metricName": "Errors",
            "dimensions": {"FunctionName": "rust-on-aws-dev-handler"},
        },
    },
    {"id": "e1", "expression": "m1", "returnData": True},
]
BROKEN: list[Any] = [
    pytest.param("lambda-errors-alarm", [res(FN)], "got no alarm on AWS/Lambda Errors",
                 id="errors-none"),
    pytest.param("lambda-errors-alarm", [res(FN), res(ALARM, metricName="Throttles")],
                 "got no alarm on AWS/Lambda Errors", id="errors-other-metric"),
    pytest.param("lambda-errors-alarm", [res(FN), res(ALARM, alarmActions=None)],
                 "without alarm_actions", id="errors-no-action"),
    pytest.param("dlq-alarm", [res(TARGET), res(QUEUE), dlq_alarm(threshold=5)],
                 "none firing on one message", id="dlq-threshold"),
    pytest.param("dlq-alarm", [res(TARGET), res(QUEUE), dlq_alarm(alarmActions=None)],
                 "none firing on one message with an action", id="dlq-no-action"),
    pytest.param("dlq-alarm",
                 [Resource(INVOKE_CONFIG, "async",
                           {"destinationConfig": {"onFailure": {"destination": DLQ_ARN}}}),
                  res(QUEUE)],
                 "no alarm on AWS/SQS", id="dlq-of-lambda-async-config"),
    pytest.param("dlq-alarm",
                 [res(QUEUE, rname="work", name="work",
                      redrivePolicy=json.dumps({"deadLetterTargetArn": DLQ_ARN})),
                  res(QUEUE)],
                 "no alarm on AWS/SQS", id="dlq-of-a-redrive-policy"),
    pytest.param("dlq-alarm",
                 [res(TARGET, deadLetterConfig={"arn": AUTONAMED_DLQ}),
                  res(QUEUE, rname="rust-on-aws-dev-events-dlq", name=None)],
                 "no alarm on AWS/SQS", id="dlq-auto-named"),
    pytest.param("alarm-actions-stack-topic", [res(ALARM, alarmActions=None), res(TOPIC)],
                 "got no alarm_actions", id="actions-none"),
    pytest.param("alarm-actions-stack-topic",
                 [res(ALARM, okActions=["arn:aws:sns:eu-west-1:999999999999:elsewhere"]),
                  res(TOPIC)],
                 "got okActions 'arn:aws:sns:eu-west-1:999999999999:elsewhere'",
                 id="actions-foreign-topic"),
    pytest.param("alarm-actions-stack-topic",
                 [res(ALARM, alarmActions=["arn:aws:automate:eu-west-1:ec2:stop"]), res(TOPIC)],
                 "got alarmActions 'arn:aws:automate:eu-west-1:ec2:stop'", id="actions-not-sns"),
    pytest.param("lambda-codedeploy-in-prod",
                 deployed(autoRollbackConfiguration={"enabled": False, "events": []}),
                 "must roll back on alarm", id="codedeploy-no-rollback"),
    pytest.param("lambda-codedeploy-in-prod",
                 deployed(autoRollbackConfiguration={"enabled": True,
                                                     "events": ["DEPLOYMENT_FAILURE"]}),
                 "must roll back on alarm", id="codedeploy-rollback-on-failure-only"),
    pytest.param("lambda-codedeploy-in-prod",
                 deployed(alarmConfiguration={"enabled": True, "alarms": ["someone-elses"]}),
                 "must watch the function's Errors alarm", id="codedeploy-other-alarm"),
    pytest.param("lambda-codedeploy-in-prod",
                 deployed(alarmConfiguration={"enabled": False,
                                              "alarms": ["rust-on-aws-dev-handler-errors"]}),
                 "must watch the function's Errors alarm", id="codedeploy-alarms-disabled"),
    pytest.param("lambda-codedeploy-in-prod",
                 [*(r for r in deployed() if r.type != APP),
                  res(APP, urn=PROD, rname="app", computePlatform="Server")],
                 "compute platform Lambda", id="codedeploy-server-application"),
    pytest.param("lambda-codedeploy-in-prod",
                 [*(r for r in deployed() if r.type != ALIAS),
                  res(ALIAS, urn=PROD, rname="handler-live", ignore=())],
                 "must leave alias handler-live's version to CodeDeploy",
                 id="codedeploy-pulumi-moves-the-alias"),
]  # fmt: skip


@pytest.mark.parametrize(("rule_name", "resources", "expected"), BROKEN)
def test_operations_rules_trip_on_each_way_to_break_them(
    rule_name: str, resources: list[Resource], expected: str
) -> None:
    found = _violations_of(rule_name, resources)
    assert found, f"{rule_name} passed {resources}"
    assert any(expected in v.message for v in found), [v.message for v in found]


KEPT: list[Any] = [
    pytest.param("lambda-errors-alarm",
                 [res(FN), res(ALARM, namespace=None, metricName=None, dimensions=None,
                              metricQueries=ERRORS_MATH)],
                 id="errors-in-metric-math"),
    pytest.param("lambda-errors-alarm",
                 [res(FN, rname="rust-on-aws-dev-handler", name=None),
                  res(ALARM, dimensions={"FunctionName": "rust-on-aws-dev-handler-0a1b2c3"})],
                 id="errors-auto-named-function"),
    pytest.param("dlq-alarm", [res(QUEUE)], id="dlq-a-queue-nobody-dead-letters-to"),
    pytest.param("dlq-alarm",
                 [res(TARGET, deadLetterConfig={"arn": AUTONAMED_DLQ}),
                  res(QUEUE, rname="rust-on-aws-dev-events-dlq", name=None),
                  dlq_alarm(dimensions={"QueueName": "rust-on-aws-dev-events-dlq-0a1b2c3"})],
                 id="dlq-auto-named"),
    pytest.param("dlq-alarm",
                 [res(TARGET), res(QUEUE),
                  dlq_alarm(comparisonOperator="GreaterThanThreshold", threshold=0)],
                 id="dlq-above-zero"),
    pytest.param("alarm-actions-stack-topic",
                 [res(ALARM, alarmActions=["arn:aws:sns:eu-west-1:123456789012:t-0a1b2c3"],
                      okActions=None),
                  res(TOPIC, rname="t", name=None)],
                 id="actions-auto-named-topic"),
    pytest.param("lambda-codedeploy-in-prod",
                 [res(FN, urn=PROD, rname="migrate", name="rust-on-aws-prod-migrate"),
                  Resource("aws:lambda/invocation:Invocation", "migration",
                           {"functionName": "rust-on-aws-prod-migrate", "qualifier": "live"},
                           urn=f"{PROD}aws:lambda/invocation:Invocation::migration")],
                 id="codedeploy-not-for-the-function-pulumi-up-invokes"),
]  # fmt: skip


@pytest.mark.parametrize(("rule_name", "resources"), KEPT)
def test_operations_rules_pass_what_follows_them(rule_name: str, resources: list[Resource]) -> None:
    assert _violations_of(rule_name, resources) == []


def test_a_computed_dead_letter_target_is_undecided_not_passed() -> None:
    report = evaluate([res(TARGET, deadLetterConfig={"arn": COMPUTED}), res(QUEUE)])
    assert [u.rule for u in report.undecided] == ["dlq-alarm"]
