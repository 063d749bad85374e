"""LambdaDeployments: CodeDeploy moves each function's `live` alias, and rolls it back on alarm.

One CodeDeploy application (compute platform Lambda), one deployment configuration for the
stack (canary, linear or all at once), and per function a deployment group named after the
function with its rollback alarms and automatic rollback on failure, on alarm and on a stop.
CodeDeploy's service role may read and update exactly these aliases and read exactly these
alarms.

Pulumi never moves the aliases (`RustLambdaArgs.alias_managed_by="codedeploy"` makes it ignore
their version and routing after creation): `pulumi up` publishes a version, and
`python -m rollout` (after `up`, so after the migration step) starts one deployment per
function whose published version differs from the alias's. `plan` (exported as the stack's
`rollout` output, docs/contracts.md section 7) is what that command reads. Why this design and
not Pulumi-managed weights or CodeDeploy hooks: components/README.md.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import pulumi
import pulumi_aws as aws

from components.iam import assume_role_policy, policy_document
from components.rust_lambda import RustLambda
from components.settings.rollout import MAX_ROLLOUT_MINUTES, STRATEGIES, shift_minutes

TYPE = "rust-on-aws:code_deploy:LambdaDeployments"
ROLLBACK_EVENTS = ("DEPLOYMENT_FAILURE", "DEPLOYMENT_STOP_ON_ALARM", "DEPLOYMENT_STOP_ON_REQUEST")
"""Every way a deployment can end early rolls the alias back to the version it started from."""
MAX_ALARMS = 10
"""Alarms a deployment group may list
(https://docs.aws.amazon.com/codedeploy/latest/APIReference/API_AlarmConfiguration.html)."""
TIMEOUT_MARGIN_MINUTES = 15
"""What `python -m rollout` waits beyond the shift itself before it stops a deployment."""


def config_name(prefix: str, strategy: str, percent: int, interval_minutes: int) -> str:
    """The deployment configuration's name: it says what it does, and a changed shape is a new
    name (a configuration cannot be changed in place, only replaced)."""
    if strategy == "canary":
        return f"{prefix}-canary-{percent}pct-{interval_minutes}min"
    if strategy == "linear":
        return f"{prefix}-linear-{percent}pct-every-{interval_minutes}min"
    return f"{prefix}-all-at-once"


@dataclass(frozen=True, kw_only=True)
class LambdaDeploymentsArgs:
    functions: Mapping[str, RustLambda]
    """Key -> function whose alias CodeDeploy moves (built with alias_managed_by="codedeploy")."""
    rollback_alarms: Mapping[str, Sequence[aws.cloudwatch.MetricAlarm]]
    """Key -> the alarms that stop a deployment of that function and roll it back (at least
    its Errors alarm: `Monitoring.errors_alarms`)."""
    strategy: Literal["canary", "linear", "all-at-once"] = "canary"
    """How traffic moves. Default canary."""
    percent: int = 10
    """canary: the first share; linear: each step's share (1..50). Percent. Default 10."""
    interval_minutes: int = 10
    """canary: minutes before the rest moves; linear: minutes between steps. Default 10."""
    tags: dict[str, str] = field(default_factory=dict)
    """Tags on every taggable resource."""


class LambdaDeployments(pulumi.ComponentResource):
    application_name: pulumi.Output[str]
    deployment_config_name: pulumi.Output[str]
    deployment_groups: dict[str, pulumi.Output[str]]
    """Key -> deployment group name (the function's name)."""
    plan: pulumi.Output[dict[str, Any]]
    """What `python -m rollout` reads (the stack output `rollout`)."""
    shift_minutes: int

    def __init__(
        self, name: str, args: LambdaDeploymentsArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(TYPE, name, None, opts)
        self._validate(name, args)
        child = pulumi.ResourceOptions(parent=self)
        tags = args.tags

        application = aws.codedeploy.Application(
            f"{name}-app", name=name, compute_platform="Lambda", tags=tags, opts=child
        )
        routing = {
            "canary": aws.codedeploy.DeploymentConfigTrafficRoutingConfigArgs(
                type="TimeBasedCanary",
                time_based_canary=aws.codedeploy.DeploymentConfigTrafficRoutingConfigTimeBasedCanaryArgs(
                    percentage=args.percent, interval=args.interval_minutes
                ),
            ),
            "linear": aws.codedeploy.DeploymentConfigTrafficRoutingConfigArgs(
                type="TimeBasedLinear",
                time_based_linear=aws.codedeploy.DeploymentConfigTrafficRoutingConfigTimeBasedLinearArgs(
                    percentage=args.percent, interval=args.interval_minutes
                ),
            ),
            "all-at-once": aws.codedeploy.DeploymentConfigTrafficRoutingConfigArgs(
                type="AllAtOnce"
            ),
        }[args.strategy]
        config = aws.codedeploy.DeploymentConfig(
            f"{name}-config",
            deployment_config_name=config_name(
                name, args.strategy, args.percent, args.interval_minutes
            ),
            compute_platform="Lambda",
            traffic_routing_config=routing,
            opts=child,
        )
        role = aws.iam.Role(
            f"{name}-role",
            assume_role_policy=assume_role_policy("codedeploy.amazonaws.com"),
            description=f"{name}: CodeDeploy shifts these functions' live aliases",
            tags=tags,
            opts=child,
        )
        alarms = [a for key in args.functions for a in args.rollback_alarms[key]]
        policy = aws.iam.RolePolicy(
            f"{name}-policy",
            role=role.id,
            # What AWSCodeDeployRoleForLambda grants for traffic shifting, on these aliases and
            # alarms only (https://docs.aws.amazon.com/aws-managed-policy/latest/reference/AWSCodeDeployRoleForLambda.html);
            # no hooks, no S3 revisions, no SNS triggers.
            policy=policy_document(
                [
                    {
                        "Effect": "Allow",
                        "Action": [
                            "lambda:GetAlias",
                            "lambda:UpdateAlias",
                            "lambda:GetProvisionedConcurrencyConfig",
                        ],
                        "Resource": [fn.alias_arn for fn in args.functions.values()],
                    },
                    {
                        # Metric alarms can be named (composite alarms would need "*").
                        "Effect": "Allow",
                        "Action": "cloudwatch:DescribeAlarms",
                        "Resource": [a.arn for a in alarms],
                    },
                ]
            ),
            opts=child,
        )
        self.deployment_groups = {}
        for key, fn in args.functions.items():
            group = aws.codedeploy.DeploymentGroup(
                f"{name}-{key}",
                app_name=application.name,
                deployment_group_name=fn.function_name,
                service_role_arn=role.arn,
                deployment_config_name=config.deployment_config_name,
                # What AWS reports for every Lambda deployment group; unset, the provider would
                # send IN_PLACE and show a diff on every preview.
                deployment_style=aws.codedeploy.DeploymentGroupDeploymentStyleArgs(
                    deployment_type="BLUE_GREEN", deployment_option="WITH_TRAFFIC_CONTROL"
                ),
                alarm_configuration=aws.codedeploy.DeploymentGroupAlarmConfigurationArgs(
                    enabled=True,
                    alarms=[a.name for a in args.rollback_alarms[key]],
                    # An alarm CodeDeploy cannot read stops the deployment rather than being
                    # skipped.
                    ignore_poll_alarm_failure=False,
                ),
                auto_rollback_configuration=aws.codedeploy.DeploymentGroupAutoRollbackConfigurationArgs(
                    enabled=True, events=list(ROLLBACK_EVENTS)
                ),
                tags=tags,
                # CodeDeploy checks it may use the role's permissions when a deployment starts;
                # on destroy the groups go first.
                opts=pulumi.ResourceOptions(parent=self, depends_on=[policy]),
            )
            self.deployment_groups[key] = group.deployment_group_name

        self.shift_minutes = shift_minutes(args.strategy, args.percent, args.interval_minutes)
        self.application_name = application.name
        self.deployment_config_name = config.deployment_config_name
        self.plan = pulumi.Output.all(
            application=application.name,
            config=config.deployment_config_name,
            functions={
                key: {
                    "function_name": fn.function_name,
                    "alias": fn.alias_name,
                    "version": fn.version,
                    "deployment_group": self.deployment_groups[key],
                }
                for key, fn in args.functions.items()
            },
        ).apply(
            lambda v: {
                "application": v["application"],
                "deployment_config": v["config"],
                "strategy": args.strategy,
                "shift_minutes": self.shift_minutes,
                "timeout_minutes": self.shift_minutes + TIMEOUT_MARGIN_MINUTES,
                "functions": v["functions"],
            }
        )
        self.register_outputs(
            {
                "application_name": self.application_name,
                "deployment_config_name": self.deployment_config_name,
                "plan": self.plan,
            }
        )

    @staticmethod
    def _validate(name: str, args: LambdaDeploymentsArgs) -> None:
        if not args.functions:
            raise ValueError(f"LambdaDeployments {name}: functions must not be empty, got none")
        if args.strategy not in STRATEGIES:
            raise ValueError(
                f"LambdaDeployments {name}: strategy must be one of {STRATEGIES}, got "
                f"{args.strategy!r}"
            )
        top = 50 if args.strategy == "linear" else 99
        if not 1 <= args.percent <= top:
            raise ValueError(
                f"LambdaDeployments {name}: percent must be in 1..{top} for {args.strategy}, "
                f"got {args.percent}"
            )
        if not 1 <= args.interval_minutes <= MAX_ROLLOUT_MINUTES:
            raise ValueError(
                f"LambdaDeployments {name}: interval_minutes must be in 1..{MAX_ROLLOUT_MINUTES}, "
                f"got {args.interval_minutes}"
            )
        total = shift_minutes(args.strategy, args.percent, args.interval_minutes)
        if total > MAX_ROLLOUT_MINUTES:
            raise ValueError(
                f"LambdaDeployments {name}: a rollout must shift within {MAX_ROLLOUT_MINUTES} "
                f"minutes, got {total} ({args.percent}% every {args.interval_minutes} min); "
                "raise percent or shorten interval_minutes"
            )
        for key, fn in args.functions.items():
            if fn.alias_managed_by != "codedeploy":
                raise ValueError(
                    f"LambdaDeployments {name}: function {key} must be built with "
                    f"alias_managed_by='codedeploy', got {fn.alias_managed_by!r}; otherwise "
                    "Pulumi and CodeDeploy both move its alias"
                )
            if len(args.rollback_alarms.get(key, ())) > MAX_ALARMS:
                raise ValueError(
                    f"LambdaDeployments {name}: function {key} may have at most {MAX_ALARMS} "
                    f"rollback alarms (CodeDeploy's limit), got "
                    f"{len(args.rollback_alarms[key])}; combine them in a composite alarm"
                )
            if not args.rollback_alarms.get(key):
                raise ValueError(
                    f"LambdaDeployments {name}: function {key} needs at least one rollback "
                    "alarm (its Errors alarm), got none; pass Monitoring.errors_alarms"
                )
        extra = sorted(set(args.rollback_alarms) - set(args.functions))
        if extra:
            raise ValueError(
                f"LambdaDeployments {name}: rollback_alarms names functions that are not "
                f"deployed here, got {extra}"
            )
