"""RestApi: API Gateway REST API from the route table, every method behind a TOKEN authorizer."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

from components.iam import assume_role_policy, policy_document
from components.routes import Route, routes_digest
from components.rust_lambda import RustLambda

TYPE = "rust-on-aws:rest_api:RestApi"
IDENTITY_SOURCE = "method.request.header.Authorization"
#: Rejects requests without a bearer token before the authorizer runs (no Lambda cost).
IDENTITY_VALIDATION = r"^Bearer [-0-9A-Za-z._~+/]+=*$"
ACCESS_LOG_FORMAT = json.dumps(
    {
        "requestId": "$context.requestId",
        "ip": "$context.identity.sourceIp",
        "requestTime": "$context.requestTime",
        "httpMethod": "$context.httpMethod",
        "resourcePath": "$context.resourcePath",
        "status": "$context.status",
        "responseLength": "$context.responseLength",
        "integrationLatency": "$context.integrationLatency",
        "authorizerError": "$context.authorizer.error",
        "principalId": "$context.authorizer.principalId",
    },
    sort_keys=True,
)


def _segment_label(segment: str) -> str:
    """Resource-name-safe label of a path segment ({device_id} -> by-device_id)."""
    return f"by-{segment[1:-1]}" if segment.startswith("{") else segment


def path_label(segments: tuple[str, ...]) -> str:
    return "-".join(_segment_label(s) for s in segments)


@dataclass(frozen=True, kw_only=True)
class RestApiArgs:
    routes: tuple[Route, ...]
    """The route table (app/routes.json): one method per route."""
    handler: RustLambda
    """The Lambda every route integrates with (AWS_PROXY to its `live` alias)."""
    authorizer: RustLambda
    """The TOKEN authorizer Lambda."""
    stage_name: str = "v1"
    """Stage name. Default v1."""
    authorizer_cache_ttl_seconds: int = 300
    """Authorizer result cache, seconds (0..3600). Default 300."""
    throttle_rate_limit: int = 50
    """Stage-wide requests per second. Default 50."""
    throttle_burst_limit: int = 100
    """Stage-wide burst, requests. Default 100."""
    log_retention_days: int = 14
    """Access log retention, days. Default 14."""
    protect: bool = False
    """Pulumi `protect` on the access log group. Default false."""
    xray_tracing: bool = True
    """X-Ray tracing on the stage (FSBP APIGateway.3). Default true."""
    manage_account_logging_role: bool = True
    """Set the account-wide API Gateway CloudWatch role (access logging needs one per region)."""
    tags: dict[str, str] = field(default_factory=dict)
    """Tags on every taggable resource."""


class RestApi(pulumi.ComponentResource):
    url: pulumi.Output[str]
    """The stage's invoke URL."""
    rest_api_id: pulumi.Output[str]
    execution_arn: pulumi.Output[str]

    def __init__(
        self, name: str, args: RestApiArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(TYPE, name, None, opts)
        if not args.routes:
            raise ValueError(f"RestApi {name}: routes must not be empty")
        if not 0 <= args.authorizer_cache_ttl_seconds <= 3600:
            raise ValueError(
                f"RestApi {name}: authorizer_cache_ttl_seconds must be in 0..3600, "
                f"got {args.authorizer_cache_ttl_seconds}"
            )
        if args.throttle_burst_limit < 1 or args.throttle_rate_limit < 1:
            raise ValueError(
                f"RestApi {name}: throttle limits must be positive, got rate "
                f"{args.throttle_rate_limit} burst {args.throttle_burst_limit}"
            )
        child = pulumi.ResourceOptions(parent=self)
        tags = args.tags

        api = aws.apigateway.RestApi(
            f"{name}-api",
            description=f"{name}: routes of app/routes.json",
            endpoint_configuration=aws.apigateway.RestApiEndpointConfigurationArgs(
                types="REGIONAL"
            ),
            tags=tags,
            opts=child,
        )
        authorizer = aws.apigateway.Authorizer(
            f"{name}-authorizer",
            rest_api=api.id,
            type="TOKEN",
            authorizer_uri=args.authorizer.alias_invoke_arn,
            identity_source=IDENTITY_SOURCE,
            identity_validation_expression=IDENTITY_VALIDATION,
            authorizer_result_ttl_in_seconds=args.authorizer_cache_ttl_seconds,
            opts=child,
        )
        aws.lambda_.Permission(
            f"{name}-invoke-authorizer",
            action="lambda:InvokeFunction",
            function=args.authorizer.function_name,
            qualifier=args.authorizer.alias_name,
            principal="apigateway.amazonaws.com",
            source_arn=pulumi.Output.concat(api.execution_arn, "/authorizers/", authorizer.id),
            opts=child,
        )

        # One resource per distinct path prefix, parents first.
        resources: dict[tuple[str, ...], aws.apigateway.Resource] = {}
        for route in sorted(args.routes, key=lambda r: r.segments):
            for depth in range(1, len(route.segments) + 1):
                prefix = route.segments[:depth]
                if prefix in resources:
                    continue
                parent_id = api.root_resource_id if depth == 1 else resources[prefix[:-1]].id
                resources[prefix] = aws.apigateway.Resource(
                    f"{name}-{path_label(prefix)}",
                    rest_api=api.id,
                    parent_id=parent_id,
                    path_part=prefix[-1],
                    opts=child,
                )
        routed: list[pulumi.Resource] = []
        for route in args.routes:
            label = f"{name}-{route.method}-{path_label(route.segments)}"
            params = {
                f"method.request.path.{s[1:-1]}": True for s in route.segments if s.startswith("{")
            }
            method = aws.apigateway.Method(
                label,
                rest_api=api.id,
                resource_id=resources[route.segments].id,
                http_method=route.method,
                authorization="CUSTOM",
                authorizer_id=authorizer.id,
                request_parameters=params or None,
                opts=child,
            )
            integration = aws.apigateway.Integration(
                label,
                rest_api=api.id,
                resource_id=resources[route.segments].id,
                http_method=method.http_method,
                type="AWS_PROXY",
                integration_http_method="POST",
                uri=args.handler.alias_invoke_arn,
                opts=child,
            )
            routed += [method, integration]
        aws.lambda_.Permission(
            f"{name}-invoke-handler",
            action="lambda:InvokeFunction",
            function=args.handler.function_name,
            qualifier=args.handler.alias_name,
            principal="apigateway.amazonaws.com",
            source_arn=pulumi.Output.concat(api.execution_arn, "/*/*"),
            opts=child,
        )

        # Any change of routes, integrations or the authorizer redeploys the stage.
        trigger = hashlib.sha256(
            json.dumps(
                {
                    "routes": routes_digest(args.routes),
                    "integration": ["AWS_PROXY", "POST", "live"],
                    "authorizer": [
                        "TOKEN",
                        IDENTITY_SOURCE,
                        IDENTITY_VALIDATION,
                        args.authorizer_cache_ttl_seconds,
                    ],
                },
                sort_keys=True,
            ).encode()
        ).hexdigest()
        deployment = aws.apigateway.Deployment(
            f"{name}-deployment",
            rest_api=api.id,
            description=f"routes {trigger[:12]}",
            triggers={"redeployment": trigger},
            opts=pulumi.ResourceOptions(parent=self, depends_on=routed),
        )

        log_group = aws.cloudwatch.LogGroup(
            f"{name}-access-logs",
            name=f"/aws/apigateway/{name}",
            retention_in_days=args.log_retention_days,
            tags=tags,
            opts=pulumi.ResourceOptions(parent=self, protect=args.protect),
        )
        depends: list[pulumi.Resource] = []
        if args.manage_account_logging_role:
            identity = aws.get_caller_identity_output()
            region = aws.get_region_output()
            role = aws.iam.Role(
                f"{name}-cloudwatch",
                assume_role_policy=assume_role_policy("apigateway.amazonaws.com"),
                description="API Gateway (account-wide): write access and execution logs",
                tags=tags,
                opts=child,
            )
            aws.iam.RolePolicy(
                f"{name}-cloudwatch",
                role=role.id,
                policy=policy_document(
                    [
                        {
                            "Effect": "Allow",
                            "Action": [
                                "logs:CreateLogGroup",
                                "logs:CreateLogStream",
                                "logs:DescribeLogGroups",
                                "logs:DescribeLogStreams",
                                "logs:PutLogEvents",
                                "logs:GetLogEvents",
                                "logs:FilterLogEvents",
                            ],
                            "Resource": pulumi.Output.concat(
                                "arn:aws:logs:", region.region, ":", identity.account_id, ":*"
                            ),
                        }
                    ]
                ),
                opts=child,
            )
            depends.append(
                aws.apigateway.Account(f"{name}-account", cloudwatch_role_arn=role.arn, opts=child)
            )
        stage = aws.apigateway.Stage(
            f"{name}-stage",
            rest_api=api.id,
            deployment=deployment.id,
            stage_name=args.stage_name,
            xray_tracing_enabled=args.xray_tracing,
            access_log_settings=aws.apigateway.StageAccessLogSettingsArgs(
                destination_arn=log_group.arn, format=ACCESS_LOG_FORMAT
            ),
            tags=tags,
            opts=pulumi.ResourceOptions(parent=self, depends_on=depends),
        )
        aws.apigateway.MethodSettings(
            f"{name}-throttling",
            rest_api=api.id,
            stage_name=stage.stage_name,
            method_path="*/*",
            settings=aws.apigateway.MethodSettingsSettingsArgs(
                throttling_rate_limit=args.throttle_rate_limit,
                throttling_burst_limit=args.throttle_burst_limit,
                metrics_enabled=True,
                logging_level="ERROR",
            ),
            opts=child,
        )
        self.url = stage.invoke_url
        self.rest_api_id = api.id
        self.execution_arn = api.execution_arn
        self.register_outputs(
            {"url": self.url, "rest_api_id": self.rest_api_id, "execution_arn": self.execution_arn}
        )
