"""The guardrails: AWS Foundational Security Best Practices (FSBP) controls and our own rules.

Each rule is a plain function over resource inputs (camelCase, as in the offline plan), so the
same code runs in three places: the CrossGuard pack (`policy/__main__.py`) during `pulumi
preview`/`up`, the offline runner (`python -m policy.offline dist/plan-<stack>.json`) in CI, and
the tests. Messages follow house style: the thing, the rule, the actual value, the fix.

Controls that cannot be decided from inputs are listed in policy/README.md.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

from policy.model import (
    COMPUTED,
    Resource,
    ResourceRule,
    Rule,
    StackRule,
    Unknown,
    as_list,
    by_type,
    dig,
    is_set,
    json_input,
)

# ---- resource type tokens ------------------------------------------------------------------
LAMBDA_FUNCTION = "aws:lambda/function:Function"
LAMBDA_PERMISSION = "aws:lambda/permission:Permission"
API_METHOD = "aws:apigateway/method:Method"
API_STAGE = "aws:apigateway/stage:Stage"
API_METHOD_SETTINGS = "aws:apigateway/methodSettings:MethodSettings"
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


# ---- Lambda --------------------------------------------------------------------------------


def _lambda_runtime(r: Resource) -> Iterator[str]:
    if dig(r.props, "packageType") == "Image":
        return
    runtime = dig(r.props, "runtime")
    if runtime not in SUPPORTED_LAMBDA_RUNTIMES:
        yield (
            f"runtime must be a supported Lambda runtime; got {runtime!r}; "
            "use provided.al2023 (the manifest's runtime)"
        )


def _lambda_in_vpc(r: Resource) -> Iterator[str]:
    if not is_set(r.props, "vpcConfig.subnetIds") or not is_set(
        r.props, "vpcConfig.securityGroupIds"
    ):
        yield (
            "the function must run in a VPC with subnets and a security group; got "
            f"vpcConfig={dig(r.props, 'vpcConfig')!r}; pass the private subnets and its group"
        )


def _lambda_multi_az(r: Resource) -> Iterator[str]:
    subnets = dig(r.props, "vpcConfig.subnetIds")
    if subnets is None:
        return  # Lambda.3 reports a function outside any VPC
    if any(s == COMPUTED for s in as_list(subnets)) and len(as_list(subnets)) >= 2:
        return
    if len(as_list(subnets)) < 2:
        yield (
            f"a VPC function needs subnets in at least 2 AZs; got {len(as_list(subnets))} "
            "subnet(s); pass both private subnets"
        )


def _env_secrets(variables: Mapping[str, Any] | None) -> Iterator[str]:
    for key, value in (variables or {}).items():
        problem = secret_env_problem(str(key), value)
        if problem:
            yield (
                f"secrets never go in environment variables; got {problem}; store it in "
                f"Secrets Manager and pass its ARN (e.g. {key.rsplit('_', 1)[0]}_SECRET_ARN)"
            )


def _lambda_env_secrets(r: Resource) -> Iterator[str]:
    yield from _env_secrets(dig(r.props, "environment.variables"))


def _permission_scoped(r: Resource) -> Iterator[str]:
    principal = dig(r.props, "principal")
    if principal in ("*", None):
        yield f"principal must name a service or account; got {principal!r}; never '*'"
        return
    if not is_set(r.props, "sourceArn"):
        yield (
            f"a permission for {principal} must be scoped by sourceArn; got none; pass the "
            "ARN of the API/rule that invokes the function (source_arn=...)"
        )


# ---- API Gateway ---------------------------------------------------------------------------


def _method_authorized(r: Resource) -> Iterator[str]:
    auth = dig(r.props, "authorization")
    if auth != "CUSTOM" or not is_set(r.props, "authorizerId"):
        yield (
            f"every method must use the TOKEN authorizer; got authorization={auth!r} "
            f"authorizerId={dig(r.props, 'authorizerId')!r}; set authorization='CUSTOM' and "
            "authorizer_id to the API's authorizer"
        )


def _stage_access_logs(r: Resource) -> Iterator[str]:
    if not is_set(r.props, "accessLogSettings.destinationArn") or not is_set(
        r.props, "accessLogSettings.format"
    ):
        yield (
            "stage access logging must be on; got "
            f"accessLogSettings={dig(r.props, 'accessLogSettings')!r}; set destination_arn to "
            "a log group with retention and a format"
        )


def _stage_xray(r: Resource) -> Iterator[str]:
    if dig(r.props, "xrayTracingEnabled") is not True:
        yield (
            f"X-Ray tracing must be on; got xrayTracingEnabled="
            f"{dig(r.props, 'xrayTracingEnabled')!r}; set xray_tracing_enabled=True"
        )


def _method_settings_cache_encrypted(r: Resource) -> Iterator[str]:
    if dig(r.props, "settings.cachingEnabled") is True and (
        dig(r.props, "settings.cacheDataEncrypted") is not True
    ):
        yield (
            "cached API responses must be encrypted; got cachingEnabled=True and "
            f"cacheDataEncrypted={dig(r.props, 'settings.cacheDataEncrypted')!r}; "
            "set cache_data_encrypted=True"
        )


def _method_settings_throttled(r: Resource) -> Iterator[str]:
    for key in ("throttlingRateLimit", "throttlingBurstLimit"):
        value = dig(r.props, f"settings.{key}")
        if not isinstance(value, int | float) or value <= 0:
            yield (
                f"stage throttling must be set; got settings.{key}={value!r}; "
                "set a positive limit from the stack config"
            )


# ---- ECS -----------------------------------------------------------------------------------


def _containers(r: Resource) -> list[Mapping[str, Any]]:
    defs = json_input(r.props, "containerDefinitions")
    if defs is None:
        return []
    if not isinstance(defs, list):
        raise Unknown("containerDefinitions (not a JSON array)")
    return [d for d in defs if isinstance(d, Mapping)]


def _service_no_public_ip(r: Resource) -> Iterator[str]:
    if dig(r.props, "networkConfiguration.assignPublicIp") is True:
        yield (
            "tasks must not get public IPs; got networkConfiguration.assignPublicIp=True; "
            "run tasks in private subnets with assign_public_ip=False"
        )


def _service_platform_version(r: Resource) -> Iterator[str]:
    version = dig(r.props, "platformVersion")
    if dig(r.props, "launchType") == "FARGATE" and version not in (None, "LATEST"):
        yield f"Fargate services must run the latest platform; got {version!r}; omit it or 'LATEST'"


def _cluster_insights(r: Resource) -> Iterator[str]:
    settings = {
        dig(s, "name"): dig(s, "value")
        for s in as_list(dig(r.props, "settings"))
        if isinstance(s, Mapping)
    }
    if settings.get("containerInsights") not in ("enabled", "enhanced"):
        yield (
            f"Container Insights must be on; got containerInsights="
            f"{settings.get('containerInsights')!r}; add setting containerInsights=enabled"
        )


def _task_no_host_pid(r: Resource) -> Iterator[str]:
    if dig(r.props, "pidMode") == "host":
        yield "tasks must not share the host's process namespace; got pidMode='host'; remove it"


def _task_awsvpc(r: Resource) -> Iterator[str]:
    mode = dig(r.props, "networkMode")
    if mode != "awsvpc":
        yield f"tasks must use awsvpc networking; got networkMode={mode!r}; set 'awsvpc'"


def _containers_unprivileged(r: Resource) -> Iterator[str]:
    for c in _containers(r):
        if c.get("privileged") is True:
            yield f"container {c.get('name')!r} must be unprivileged; got privileged=true; drop it"


def _containers_readonly_root(r: Resource) -> Iterator[str]:
    for c in _containers(r):
        if c.get("readonlyRootFilesystem") is not True:
            yield (
                f"container {c.get('name')!r} must have a read-only root filesystem; got "
                f"readonlyRootFilesystem={c.get('readonlyRootFilesystem')!r}; set it to true "
                "(mount a volume for any scratch space)"
            )


def _containers_logging(r: Resource) -> Iterator[str]:
    for c in _containers(r):
        if not isinstance(c.get("logConfiguration"), Mapping) or not c["logConfiguration"].get(
            "logDriver"
        ):
            yield (
                f"container {c.get('name')!r} must log; got logConfiguration="
                f"{c.get('logConfiguration')!r}; add the awslogs driver with a log group that "
                "has retention"
            )


def _containers_no_env_secrets(r: Resource) -> Iterator[str]:
    for c in _containers(r):
        env = {
            str(e.get("name")): e.get("value")
            for e in as_list(c.get("environment"))
            if isinstance(e, Mapping)
        }
        for name in sorted(ECS_SECRET_ENV_NAMES.intersection(env)):
            yield (
                f"container {c.get('name')!r} must not carry AWS credentials; got {name} in its "
                "environment; use the task role for AWS access and `secrets` for credentials"
            )
        for problem in _env_secrets(
            {k: v for k, v in env.items() if k not in ECS_SECRET_ENV_NAMES}
        ):
            yield f"container {c.get('name')!r}: {problem} (use the container's `secrets`)"


# ---- ECR -----------------------------------------------------------------------------------


def _ecr_scan_on_push(r: Resource) -> Iterator[str]:
    if dig(r.props, "imageScanningConfiguration.scanOnPush") is not True:
        yield (
            "images must be scanned on push; got imageScanningConfiguration="
            f"{dig(r.props, 'imageScanningConfiguration')!r}; set scan_on_push=True"
        )


def _ecr_immutable(r: Resource) -> Iterator[str]:
    mutability = dig(r.props, "imageTagMutability")
    if mutability not in ("IMMUTABLE", "IMMUTABLE_WITH_EXCLUSION"):
        yield f"tags must be immutable; got imageTagMutability={mutability!r}; set 'IMMUTABLE'"


def _ecr_lifecycle(resources: Sequence[Resource]) -> Iterator[tuple[Resource | None, str]]:
    policies = list(by_type(resources, ECR_LIFECYCLE_POLICY))
    targets = {str(dig(p.props, "repository", "")) for p in policies}
    parents = {p.parent for p in policies if p.parent}
    for repo in by_type(resources, ECR_REPOSITORY):
        name = repo.props.get("name")
        if name in targets:
            continue
        if (name in (None, COMPUTED) or COMPUTED in targets) and repo.parent in parents:
            continue  # name decided at deploy time: matched by owning component instead
        yield (
            repo,
            f"repository {name!r} must have a lifecycle policy; got none; add an "
            "aws.ecr.LifecyclePolicy that expires old images",
        )


# ---- RDS -----------------------------------------------------------------------------------


def _rds_private(r: Resource) -> Iterator[str]:
    if dig(r.props, "publiclyAccessible") is True:
        yield "the database must not be public; got publiclyAccessible=True; set it to False"


def _rds_encrypted(r: Resource) -> Iterator[str]:
    if dig(r.props, "storageEncrypted") is not True:
        yield (
            "storage must be encrypted; got "
            f"storageEncrypted={dig(r.props, 'storageEncrypted')!r}; set storage_encrypted=True"
        )


def _rds_multi_az(r: Resource) -> Iterator[str]:
    if r.is_production and dig(r.props, "multiAz") is not True:
        yield (
            f"a production database must be multi-AZ; got multiAz={dig(r.props, 'multiAz')!r}; "
            "set database.multiAz: true in Pulumi.prod.yaml"
        )


def _rds_deletion_protection(r: Resource) -> Iterator[str]:
    if r.is_production and dig(r.props, "deletionProtection") is not True:
        yield (
            "a production database must have deletion protection; got deletionProtection="
            f"{dig(r.props, 'deletionProtection')!r}; set it in Pulumi.prod.yaml"
        )


def _rds_backups(r: Resource) -> Iterator[str]:
    days = dig(r.props, "backupRetentionPeriod")
    minimum = 7 if r.is_production else 1
    if not isinstance(days, int) or days < minimum:
        yield (
            f"automatic backups must be kept at least {minimum} day(s) on this stack; got "
            f"backupRetentionPeriod={days!r}; raise the stack's backup retention"
        )


def _rds_minor_upgrades(r: Resource) -> Iterator[str]:
    if dig(r.props, "autoMinorVersionUpgrade") is False:
        yield "minor engine upgrades must be automatic; got autoMinorVersionUpgrade=False; drop it"


def _rds_managed_password(r: Resource) -> Iterator[str]:
    if is_set(r.props, "password") or dig(r.props, "manageMasterUserPassword") is not True:
        yield (
            "the master password must be managed by AWS in Secrets Manager; got "
            f"manageMasterUserPassword={dig(r.props, 'manageMasterUserPassword')!r} "
            f"password={'<set>' if is_set(r.props, 'password') else None}; set "
            "manage_master_user_password=True and no password"
        )


# ---- IAM -----------------------------------------------------------------------------------


def _statements(document: Any) -> list[Mapping[str, Any]]:
    if not isinstance(document, Mapping):
        return []
    return [s for s in as_list(document.get("Statement")) if isinstance(s, Mapping)]


def _wildcard_actions(document: Any) -> Iterator[str]:
    for statement in _statements(document):
        if statement.get("Effect", "Allow") != "Allow":
            continue
        if "NotAction" in statement:
            yield f"NotAction {statement['NotAction']!r} (allows everything else)"
        for action in as_list(statement.get("Action")):
            if isinstance(action, str) and (action == "*" or action.endswith(":*")):
                yield f"Action {action!r}"


def _iam_documents(r: Resource) -> Iterator[tuple[str, Any]]:
    if r.type in (IAM_POLICY, IAM_ROLE_POLICY):
        yield "policy", json_input(r.props, "policy")
    elif r.type == IAM_ROLE:
        for i, inline in enumerate(as_list(dig(r.props, "inlinePolicies"))):
            if isinstance(inline, Mapping):
                yield f"inlinePolicies[{i}]", json_input(inline, "policy")


def _iam_no_wildcard(r: Resource) -> Iterator[str]:
    for where, document in _iam_documents(r):
        for found in _wildcard_actions(document):
            yield (
                f"IAM policies must list exact actions; got {where} allowing {found}; list the "
                "actions the role needs (e.g. 'secretsmanager:GetSecretValue')"
            )


def _iam_no_admin_attachment(r: Resource) -> Iterator[str]:
    arn = dig(r.props, "policyArn")
    if arn in ADMIN_MANAGED_POLICIES:
        yield f"roles must not get admin policies; got {arn}; attach a least-privilege policy"


def _iam_no_users(r: Resource) -> Iterator[str]:
    yield (
        f"IAM users and long-lived keys are not allowed; got {r.type}; use roles (OIDC for CI, "
        "task/execution roles for workloads)"
    )


# ---- CloudWatch Logs, EventBridge, SQS -----------------------------------------------------


def _log_retention(r: Resource) -> Iterator[str]:
    days = dig(r.props, "retentionInDays")
    if days not in LOG_RETENTION_DAYS:
        yield (
            f"log retention must be set; got retentionInDays={days!r}; set one of CloudWatch's "
            "values (e.g. 14, 30, 90, 365) from the stack config"
        )


def _function_log_groups(resources: Sequence[Resource]) -> Iterator[tuple[Resource | None, str]]:
    groups = {str(dig(g.props, "name", "")) for g in by_type(resources, LOG_GROUP)}
    for fn in by_type(resources, LAMBDA_FUNCTION):
        custom = fn.props.get("loggingConfig", {})
        custom_group = custom.get("logGroup") if isinstance(custom, Mapping) else None
        if custom_group is not None and (custom_group == COMPUTED or custom_group in groups):
            continue
        name = fn.props.get("name")
        if name == COMPUTED:
            raise Unknown(f"{fn.name}.name")
        expected = f"/aws/lambda/{name}"
        if name is None or expected not in groups:
            yield (
                fn,
                f"function {name!r} must have its own log group with retention; got no log "
                f"group named {expected!r}; create it before the function, with retention",
            )


def _event_target_dlq(r: Resource) -> Iterator[str]:
    if not is_set(r.props, "deadLetterConfig.arn"):
        yield "the target must have a dead-letter queue; got none; set dead_letter_config.arn"
    if not is_set(r.props, "retryPolicy"):
        yield "the target must have a retry policy; got none; set retry_policy"


def _sqs_encrypted(r: Resource) -> Iterator[str]:
    if dig(r.props, "sqsManagedSseEnabled") is not True and not is_set(r.props, "kmsMasterKeyId"):
        yield (
            "the queue must be encrypted at rest; got sqsManagedSseEnabled="
            f"{dig(r.props, 'sqsManagedSseEnabled')!r} and no kmsMasterKeyId; set "
            "sqs_managed_sse_enabled=True"
        )


def _principal_is_public(principal: Any) -> bool:
    if principal == "*":
        return True
    if isinstance(principal, Mapping):
        return any(v in ("*", ["*"]) for v in principal.values())
    return False


def _sqs_policy_not_public(r: Resource) -> Iterator[str]:
    for statement in _statements(json_input(r.props, "policy")):
        if (
            statement.get("Effect", "Allow") == "Allow"
            and _principal_is_public(statement.get("Principal"))
            and not statement.get("Condition")
        ):
            yield (
                "a queue policy must not be public; got Principal "
                f"{statement.get('Principal')!r} without a condition; scope it with "
                "aws:SourceArn to the rule that sends to it"
            )


# ---- EC2 security groups and subnets -------------------------------------------------------


def _ingress_entries(r: Resource) -> Iterator[tuple[int, int, str, list[str], bool]]:
    """(from, to, protocol, CIDRs, has_source_sg) for every ingress this resource opens."""
    if r.type == SECURITY_GROUP:
        for rule in as_list(dig(r.props, "ingress")):
            if isinstance(rule, Mapping):
                yield (
                    int(rule.get("fromPort", 0)),
                    int(rule.get("toPort", 0)),
                    str(rule.get("protocol", "-1")),
                    [*as_list(rule.get("cidrBlocks")), *as_list(rule.get("ipv6CidrBlocks"))],
                    bool(rule.get("securityGroups")) or bool(rule.get("self")),
                )
    elif r.type == SECURITY_GROUP_RULE and dig(r.props, "type") == "ingress":
        yield (
            int(dig(r.props, "fromPort", 0)),
            int(dig(r.props, "toPort", 0)),
            str(dig(r.props, "protocol", "-1")),
            [*as_list(dig(r.props, "cidrBlocks")), *as_list(dig(r.props, "ipv6CidrBlocks"))],
            is_set(r.props, "sourceSecurityGroupId") or dig(r.props, "self") is True,
        )
    elif r.type == SG_INGRESS_RULE:
        yield (
            int(dig(r.props, "fromPort", 0)),
            int(dig(r.props, "toPort", 0)),
            str(dig(r.props, "ipProtocol", "-1")),
            [*as_list(dig(r.props, "cidrIpv4")), *as_list(dig(r.props, "cidrIpv6"))],
            is_set(r.props, "referencedSecurityGroupId"),
        )


def _sg_open_ports(r: Resource) -> Iterator[str]:
    for low, high, protocol, cidrs, _ in _ingress_entries(r):
        open_to = sorted(OPEN_CIDRS.intersection(cidrs))
        if not open_to:
            continue
        all_ports = protocol in ("-1", "all")
        if all_ports or low != high or low not in PUBLIC_PORTS:
            ports = "all ports" if all_ports else f"ports {low}-{high}/{protocol}"
            yield (
                f"ingress from {', '.join(open_to)} is allowed only on 80/443; got {ports}; "
                "restrict the source to a security group or a known range"
            )


def _sg_database_from_groups(r: Resource) -> Iterator[str]:
    for low, high, protocol, cidrs, has_group in _ingress_entries(r):
        if protocol in ("-1", "all") or not (low <= POSTGRES_PORT <= high):
            continue
        if cidrs:
            yield (
                f"PostgreSQL ({POSTGRES_PORT}) must be reachable only from security groups; got "
                f"CIDRs {cidrs}; use source_security_group_id of the service/Lambda groups"
            )
        elif not has_group:
            yield f"ingress on {POSTGRES_PORT} must name a source group; got none; add one"


def _default_sg_closed(r: Resource) -> Iterator[str]:
    if as_list(dig(r.props, "ingress")) or as_list(dig(r.props, "egress")):
        yield (
            "the VPC's default security group must allow no traffic; got "
            f"{len(as_list(dig(r.props, 'ingress')))} ingress and "
            f"{len(as_list(dig(r.props, 'egress')))} egress rule(s); remove them"
        )


def _subnet_no_auto_public_ip(r: Resource) -> Iterator[str]:
    if dig(r.props, "mapPublicIpOnLaunch") is True:
        yield (
            "subnets must not give public IPs automatically; got mapPublicIpOnLaunch=True; "
            "the load balancer does not need it, so drop it"
        )


# ---- Load balancer -------------------------------------------------------------------------


def _lb_drop_invalid_headers(r: Resource) -> Iterator[str]:
    if dig(r.props, "loadBalancerType", "application") != "application":
        return
    if dig(r.props, "dropInvalidHeaderFields") is not True:
        yield (
            "the ALB must drop invalid HTTP headers; got dropInvalidHeaderFields="
            f"{dig(r.props, 'dropInvalidHeaderFields')!r}; set drop_invalid_header_fields=True"
        )


def _lb_desync(r: Resource) -> Iterator[str]:
    mode = dig(r.props, "desyncMitigationMode", "defensive")
    if mode not in ("defensive", "strictest"):
        yield f"desync mitigation must be defensive or strictest; got {mode!r}; drop the setting"


def _lb_multi_az(r: Resource) -> Iterator[str]:
    subnets = as_list(dig(r.props, "subnets")) or as_list(dig(r.props, "subnetMappings"))
    if len(subnets) < 2:
        yield f"the load balancer must span at least 2 AZs; got {len(subnets)} subnet(s)"


def _lb_deletion_protection(r: Resource) -> Iterator[str]:
    if r.is_production and dig(r.props, "enableDeletionProtection") is not True:
        yield (
            "a production load balancer must have deletion protection; got "
            f"enableDeletionProtection={dig(r.props, 'enableDeletionProtection')!r}; set it "
            "for prod"
        )


# ---- the list ------------------------------------------------------------------------------


def _rule(name: str, control: str, types: Iterable[str], check: Any, description: str) -> Rule:
    return ResourceRule(name, control, description, frozenset(types), check)


RULES: tuple[Rule, ...] = (
    # Lambda
    _rule("lambda-supported-runtime", "Lambda.2", [LAMBDA_FUNCTION], _lambda_runtime,
          "Lambda functions use a supported runtime."),
    _rule("lambda-in-vpc", "Lambda.3", [LAMBDA_FUNCTION], _lambda_in_vpc,
          "Lambda functions run in a VPC."),
    _rule("lambda-multi-az", "Lambda.5", [LAMBDA_FUNCTION], _lambda_multi_az,
          "VPC Lambda functions use subnets in at least two Availability Zones."),
    _rule("lambda-no-secret-in-environment", "custom", [LAMBDA_FUNCTION], _lambda_env_secrets,
          "No secret (PASSWORD/SECRET/TOKEN/KEY names) in a Lambda environment variable."),
    _rule("lambda-permission-scoped", "Lambda.1", [LAMBDA_PERMISSION], _permission_scoped,
          "Every Lambda permission names a principal and is scoped by sourceArn."),
    StackRule("lambda-log-group-retention", "custom",
              "Every Lambda function has its own log group (with retention) in the stack.",
              _function_log_groups, frozenset({LAMBDA_FUNCTION, LOG_GROUP})),
    # API Gateway
    _rule("apigateway-method-authorized", "APIGateway.8", [API_METHOD], _method_authorized,
          "Every API Gateway method is authorized by the CUSTOM (TOKEN) authorizer."),
    _rule("apigateway-stage-access-logging", "APIGateway.9", [API_STAGE], _stage_access_logs,
          "API Gateway stages write access logs."),
    _rule("apigateway-stage-xray", "APIGateway.3", [API_STAGE], _stage_xray,
          "API Gateway REST stages have X-Ray tracing enabled."),
    _rule("apigateway-cache-encrypted", "APIGateway.5", [API_METHOD_SETTINGS],
          _method_settings_cache_encrypted, "API Gateway cache data is encrypted at rest."),
    _rule("apigateway-stage-throttled", "custom", [API_METHOD_SETTINGS],
          _method_settings_throttled, "API Gateway stages set rate and burst throttling."),
    # ECS
    _rule("ecs-service-no-public-ip", "ECS.2", [ECS_SERVICE], _service_no_public_ip,
          "ECS services do not assign public IPs."),
    _rule("ecs-fargate-latest-platform", "ECS.10", [ECS_SERVICE], _service_platform_version,
          "Fargate services run on the latest platform version."),
    _rule("ecs-cluster-container-insights", "ECS.12", [ECS_CLUSTER], _cluster_insights,
          "ECS clusters use Container Insights."),
    _rule("ecs-task-no-host-pid", "ECS.3", [ECS_TASK_DEFINITION], _task_no_host_pid,
          "Task definitions do not share the host's process namespace."),
    _rule("ecs-task-awsvpc", "ECS.1", [ECS_TASK_DEFINITION], _task_awsvpc,
          "Task definitions use awsvpc networking (no host networking)."),
    _rule("ecs-containers-unprivileged", "ECS.4", [ECS_TASK_DEFINITION],
          _containers_unprivileged, "Containers run unprivileged."),
    _rule("ecs-containers-readonly-root", "ECS.5", [ECS_TASK_DEFINITION],
          _containers_readonly_root, "Containers have read-only root filesystems."),
    _rule("ecs-containers-logging", "ECS.9", [ECS_TASK_DEFINITION], _containers_logging,
          "Every container has a logging configuration."),
    _rule("ecs-no-secret-in-environment", "ECS.8", [ECS_TASK_DEFINITION],
          _containers_no_env_secrets, "No secret in a container's environment variables."),
    # ECR
    _rule("ecr-scan-on-push", "ECR.1", [ECR_REPOSITORY], _ecr_scan_on_push,
          "ECR repositories scan images on push."),
    _rule("ecr-immutable-tags", "ECR.2", [ECR_REPOSITORY], _ecr_immutable,
          "ECR repositories have immutable tags."),
    StackRule("ecr-lifecycle-policy", "ECR.3", "Every ECR repository has a lifecycle policy.",
              _ecr_lifecycle, frozenset({ECR_REPOSITORY, ECR_LIFECYCLE_POLICY})),
    # RDS
    _rule("rds-not-public", "RDS.2", [RDS_INSTANCE], _rds_private,
          "RDS instances are not publicly accessible."),
    _rule("rds-encrypted", "RDS.3", [RDS_INSTANCE], _rds_encrypted,
          "RDS instances are encrypted at rest."),
    _rule("rds-multi-az-in-prod", "RDS.5", [RDS_INSTANCE], _rds_multi_az,
          "Production RDS instances are multi-AZ."),
    _rule("rds-deletion-protection-in-prod", "RDS.8", [RDS_INSTANCE], _rds_deletion_protection,
          "Production RDS instances have deletion protection."),
    _rule("rds-backups", "RDS.11", [RDS_INSTANCE], _rds_backups,
          "RDS instances keep automatic backups (7 days in production)."),
    _rule("rds-auto-minor-upgrade", "RDS.13", [RDS_INSTANCE], _rds_minor_upgrades,
          "RDS instances take automatic minor version upgrades."),
    _rule("rds-managed-master-password", "custom", [RDS_INSTANCE], _rds_managed_password,
          "The master password is managed by AWS in Secrets Manager, never given as input."),
    # IAM
    _rule("iam-no-wildcard-action", "IAM.21", [IAM_POLICY, IAM_ROLE_POLICY, IAM_ROLE],
          _iam_no_wildcard, "No IAM policy allows a wildcard action ('*' or 'service:*')."),
    _rule("iam-no-admin-policy", "IAM.1", [IAM_ROLE_POLICY_ATTACHMENT],
          _iam_no_admin_attachment, "No role gets an administrative managed policy."),
    _rule("iam-no-users", "IAM.2", IAM_USER_TYPES, _iam_no_users,
          "No IAM users, user policies or access keys."),
    # CloudWatch Logs, EventBridge, SQS
    _rule("log-group-retention", "CloudWatch.16", [LOG_GROUP], _log_retention,
          "Every log group sets a retention period."),
    _rule("eventbridge-target-dlq-and-retry", "custom", [EVENT_TARGET], _event_target_dlq,
          "Every EventBridge target has a dead-letter queue and a retry policy."),
    _rule("sqs-encrypted", "SQS.1", [SQS_QUEUE], _sqs_encrypted,
          "SQS queues are encrypted at rest."),
    _rule("sqs-policy-not-public", "SQS.3", [SQS_QUEUE_POLICY], _sqs_policy_not_public,
          "SQS queue policies do not allow public access."),
    # EC2
    _rule("sg-public-ingress-web-ports-only", "EC2.18",
          [SECURITY_GROUP, SECURITY_GROUP_RULE, SG_INGRESS_RULE], _sg_open_ports,
          "Ingress from 0.0.0.0/0 or ::/0 only on 80/443 (also EC2.13/14/19/53/54)."),
    _rule("sg-database-from-security-groups", "custom",
          [SECURITY_GROUP, SECURITY_GROUP_RULE, SG_INGRESS_RULE], _sg_database_from_groups,
          "PostgreSQL is reachable only from security groups, never from CIDR ranges."),
    _rule("default-sg-closed", "EC2.2", [DEFAULT_SECURITY_GROUP], _default_sg_closed,
          "A managed default security group allows no traffic."),
    _rule("subnet-no-auto-public-ip", "EC2.15", [SUBNET], _subnet_no_auto_public_ip,
          "Subnets do not assign public IPs automatically."),
    # Load balancer
    _rule("alb-drop-invalid-headers", "ELB.4", LOAD_BALANCERS, _lb_drop_invalid_headers,
          "Application load balancers drop invalid HTTP headers."),
    _rule("alb-desync-mitigation", "ELB.12", LOAD_BALANCERS, _lb_desync,
          "Load balancers use defensive or strictest desync mitigation."),
    _rule("alb-multi-az", "ELB.13", LOAD_BALANCERS, _lb_multi_az,
          "Load balancers span at least two Availability Zones."),
    _rule("alb-deletion-protection-in-prod", "ELB.6", LOAD_BALANCERS, _lb_deletion_protection,
          "Production load balancers have deletion protection."),
)  # fmt: skip
"""Every guardrail, in the order the reports list them."""
