"""Guardrails for Lambda: functions and their permissions."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence

from policy.model import (
    COMPUTED,
    Resource,
    Rule,
    StackRule,
    Unknown,
    as_list,
    by_type,
    dig,
    is_set,
)
from policy.rules.common import (
    LAMBDA_FUNCTION,
    LAMBDA_PERMISSION,
    LOG_GROUP,
    SUPPORTED_LAMBDA_RUNTIMES,
    env_secrets,
    rule,
)


def _lambda_runtime(r: Resource) -> Iterator[str]:
    if dig(r.props, "packageType") == "Image":
        return
    runtime = dig(r.props, "runtime")
    if runtime not in SUPPORTED_LAMBDA_RUNTIMES:
        yield (
            f"runtime must be a supported Lambda runtime; got {runtime!r}; "
            "use provided.al2023 (the manifest's runtime)"
        )


#: Variables that say a function reaches the private database (docs/contracts.md section 3).
PRIVATE_ENDPOINT_VARIABLES = frozenset({"DB_HOST", "DB_SECRET_ARN", "DB_MASTER_SECRET_ARN"})


def _lambda_in_vpc(r: Resource) -> Iterator[str]:
    """Lambda.3, as this program applies it: a function that reaches the database (its DB_*
    variables say so) runs in the VPC; one that reaches nothing private may stay out of it
    (a declaration with database = false), with no network interface to manage."""
    variables = dig(r.props, "environment.variables") or {}
    private = sorted(PRIVATE_ENDPOINT_VARIABLES.intersection(variables))
    if not private:
        return
    if not is_set(r.props, "vpcConfig.subnetIds") or not is_set(
        r.props, "vpcConfig.securityGroupIds"
    ):
        yield (
            f"a function that reaches the database ({', '.join(private)}) must run in the VPC "
            f"with subnets and a security group; got vpcConfig={dig(r.props, 'vpcConfig')!r}; "
            "pass the private subnets and its group"
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


def _lambda_env_secrets(r: Resource) -> Iterator[str]:
    yield from env_secrets(dig(r.props, "environment.variables"))


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


RULES: tuple[Rule, ...] = (
    rule("lambda-supported-runtime", "Lambda.2", [LAMBDA_FUNCTION], _lambda_runtime,
          "Lambda functions use a supported runtime."),
    rule("lambda-in-vpc", "Lambda.3", [LAMBDA_FUNCTION], _lambda_in_vpc,
          "Lambda functions that reach the database run in the VPC."),
    rule("lambda-multi-az", "Lambda.5", [LAMBDA_FUNCTION], _lambda_multi_az,
          "VPC Lambda functions use subnets in at least two Availability Zones."),
    rule("lambda-no-secret-in-environment", "custom", [LAMBDA_FUNCTION], _lambda_env_secrets,
          "No secret (PASSWORD/SECRET/TOKEN/KEY names) in a Lambda environment variable."),
    rule("lambda-permission-scoped", "Lambda.1", [LAMBDA_PERMISSION], _permission_scoped,
          "Every Lambda permission names a principal and is scoped by sourceArn."),
    StackRule("lambda-log-group-retention", "custom",
              "Every Lambda function has its own log group (with retention) in the stack.",
              _function_log_groups, frozenset({LAMBDA_FUNCTION, LOG_GROUP})),
)  # fmt: skip
