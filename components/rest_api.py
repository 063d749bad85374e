"""RestApi: API Gateway REST API from one OpenAPI document, every route behind a TOKEN authorizer.

The route table becomes one OpenAPI 3 document (`openapi_document`) with API Gateway's
extensions: an `aws_proxy` integration per route to the handler's `live` alias, the TOKEN
authorizer as a security scheme that every operation requires, the identity validation
expression and the result cache. The document is the API's `body`, imported in `overwrite` mode,
and the stage's deployment is redeployed on the document's hash. So one `pulumi up` takes the
API from one document to the next: a removed route is gone from the API before the new
deployment is taken (with one resource per method, the deployment could be taken while a
removed method still existed, and the route stayed live until a second deploy).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_aws as aws

from components.certificate import DOMAIN_NAME, HOSTED_ZONE_ID
from components.iam import assume_role_policy, policy_document
from components.routes import IDENTITY_SOURCE, IDENTITY_VALIDATION, Route
from components.rust_lambda import RustLambda

TYPE = "rust-on-aws:rest_api:RestApi"
SECURITY_SCHEME = "fleet-token"
TLS_POLICY = "TLS_1_2"
"""API Gateway's security policy: TLS 1.2 and 1.3 only. The default execute-api endpoint of a
regional API otherwise accepts TLS 1.0
(https://docs.aws.amazon.com/apigateway/latest/developerguide/apigateway-custom-domain-tls-version.html)."""
INTEGRATION_TIMEOUT_MS = 29_000
"""API Gateway's default (and, without a quota increase, maximum) integration timeout."""
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
        "tlsVersion": "$context.tlsVersion",
        "domainName": "$context.domainName",
    },
    sort_keys=True,
)


def openapi_document(
    routes: tuple[Route, ...],
    *,
    title: str,
    handler_uri: str,
    authorizer_uri: str,
    authorizer_cache_ttl_seconds: int,
    disable_execute_api_endpoint: bool,
) -> dict[str, Any]:
    """The REST API as OpenAPI 3.0 with API Gateway's extensions.

    Extensions: https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-swagger-extensions.html
    (x-amazon-apigateway-integration, -authtype, -authorizer, -endpoint-configuration). Paths use
    `{param}` exactly as the route table does; each operation declares its path parameters and
    requires the token scheme.
    """
    paths: dict[str, dict[str, Any]] = {}
    for route in sorted(routes, key=lambda r: (r.path, r.method)):
        params = [s[1:-1] for s in route.segments if s.startswith("{")]
        operation: dict[str, Any] = {
            "operationId": f"{route.method.lower()}{route.path.replace('/', '_')}".replace(
                "{", ""
            ).replace("}", ""),
            "summary": f"{route.method} {route.path} (scope {route.scope})",
            "security": [{SECURITY_SCHEME: []}],
            "responses": {"default": {"description": "the handler's JSON response"}},
            "x-amazon-apigateway-integration": {
                "type": "aws_proxy",
                "httpMethod": "POST",
                "uri": handler_uri,
                "passthroughBehavior": "when_no_match",
                "timeoutInMillis": INTEGRATION_TIMEOUT_MS,
            },
        }
        if params:
            operation["parameters"] = [
                {"name": p, "in": "path", "required": True, "schema": {"type": "string"}}
                for p in params
            ]
        paths.setdefault(route.path, {})[route.method.lower()] = operation
    return {
        "openapi": "3.0.1",
        "info": {
            "title": title,
            "description": "Routes of app/routes.json behind the TOKEN authorizer.",
            "version": routes_version(routes),
        },
        "paths": paths,
        "components": {
            "securitySchemes": {
                SECURITY_SCHEME: {
                    "type": "apiKey",
                    "name": "Authorization",
                    "in": "header",
                    "x-amazon-apigateway-authtype": "custom",
                    "x-amazon-apigateway-authorizer": {
                        "type": "token",
                        "authorizerUri": authorizer_uri,
                        "identitySource": IDENTITY_SOURCE,
                        "identityValidationExpression": IDENTITY_VALIDATION,
                        "authorizerResultTtlInSeconds": authorizer_cache_ttl_seconds,
                    },
                }
            }
        },
        "x-amazon-apigateway-endpoint-configuration": {
            "disableExecuteApiEndpoint": disable_execute_api_endpoint
        },
    }


def routes_version(routes: tuple[Route, ...]) -> str:
    """A short digest of the route table (the document's info.version)."""
    canonical = json.dumps(sorted([r.method, r.path, r.scope] for r in routes))
    return hashlib.sha256(canonical.encode()).hexdigest()[:12]


def document_hash(body: str) -> str:
    """The deployment trigger: sha256 of the exact body API Gateway imports."""
    return hashlib.sha256(body.encode()).hexdigest()


@dataclass(frozen=True, kw_only=True)
class ApiDomain:
    """A custom domain name in front of the stage."""

    domain_name: str
    """Host name clients use, e.g. `api.example.com`."""
    certificate_arn: pulumi.Input[str]
    """Issued ACM certificate for `domain_name` in the stack's region (components.certificate)."""
    zone_id: str | None = None
    """Route 53 hosted zone for the alias record; None creates no DNS record (point a record at
    the `domain_target` output yourself)."""


@dataclass(frozen=True, kw_only=True)
class RestApiArgs:
    routes: tuple[Route, ...]
    """The route table (app/routes.json): one operation per route."""
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
    manage_account_logging_role: bool = False
    """Set the account-wide API Gateway CloudWatch role that access logging needs. One stack per
    account and region owns it (setting it from several stacks makes them fight, and destroying
    one breaks the others' logs). Default false."""
    domain: ApiDomain | None = None
    """Custom domain with a TLS 1.2 policy, mapped to the stage at its root. Default none."""
    disable_execute_api_endpoint: bool = False
    """Refuse the default https://{id}.execute-api... endpoint, so clients can only come in
    through `domain`. Needs `domain`. Default false."""
    tags: dict[str, str] = field(default_factory=dict)
    """Tags on every taggable resource."""


class RestApi(pulumi.ComponentResource):
    url: pulumi.Output[str]
    """https://<domain>/ with a custom domain, else the stage's invoke URL."""
    stage_invoke_url: pulumi.Output[str]
    rest_api_id: pulumi.Output[str]
    execution_arn: pulumi.Output[str]
    body: pulumi.Output[str]
    """The OpenAPI document imported as the API."""
    stage_name: pulumi.Output[str]
    api_name: pulumi.Output[str]
    """The REST API's name (the `ApiName` dimension of its CloudWatch metrics)."""
    domain_target: pulumi.Output[str] | None
    """The regional domain name to alias `domain` to (None without a domain)."""

    def __init__(
        self, name: str, args: RestApiArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(TYPE, name, None, opts)
        self._validate(name, args)
        child = pulumi.ResourceOptions(parent=self)
        tags = args.tags

        body = pulumi.Output.all(
            handler=args.handler.alias_invoke_arn, authorizer=args.authorizer.alias_invoke_arn
        ).apply(
            lambda uris: json.dumps(
                openapi_document(
                    args.routes,
                    title=name,
                    handler_uri=uris["handler"],
                    authorizer_uri=uris["authorizer"],
                    authorizer_cache_ttl_seconds=args.authorizer_cache_ttl_seconds,
                    disable_execute_api_endpoint=args.disable_execute_api_endpoint,
                ),
                sort_keys=True,
            )
        )
        api = aws.apigateway.RestApi(
            f"{name}-api",
            description=f"{name}: routes of app/routes.json",
            body=body,
            put_rest_api_mode="overwrite",
            fail_on_warnings=True,
            endpoint_configuration=aws.apigateway.RestApiEndpointConfigurationArgs(
                types="REGIONAL"
            ),
            disable_execute_api_endpoint=args.disable_execute_api_endpoint,
            security_policy=TLS_POLICY,
            tags=tags,
            opts=child,
        )
        aws.lambda_.Permission(
            f"{name}-invoke-authorizer",
            action="lambda:InvokeFunction",
            function=args.authorizer.function_name,
            qualifier=args.authorizer.alias_name,
            principal="apigateway.amazonaws.com",
            # The authorizer is created by the import: its id is not known here, the API's is.
            source_arn=pulumi.Output.concat(api.execution_arn, "/authorizers/*"),
            opts=child,
        )
        aws.lambda_.Permission(
            f"{name}-invoke-handler",
            action="lambda:InvokeFunction",
            function=args.handler.function_name,
            qualifier=args.handler.alias_name,
            principal="apigateway.amazonaws.com",
            source_arn=pulumi.Output.concat(api.execution_arn, "/*/*"),
            opts=child,
        )
        # A new document (a route added, removed or changed, another integration or authorizer
        # setting) replaces the deployment, which snapshots the API as just imported.
        deployment = aws.apigateway.Deployment(
            f"{name}-deployment",
            rest_api=api.id,
            description=body.apply(lambda b: f"document {document_hash(b)[:12]}"),
            triggers={"redeployment": body.apply(document_hash)},
            opts=child,
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
            depends.append(self._account_logging_role(name, tags, child))
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
        self.domain_target = None
        self.url = stage.invoke_url
        if args.domain is not None:
            self.domain_target = self._domain(
                name, domain=args.domain, api=api, stage=stage, tags=tags, child=child
            )
            self.url = pulumi.Output.from_input(f"https://{args.domain.domain_name}/")
        self.stage_invoke_url = stage.invoke_url
        self.rest_api_id = api.id
        self.execution_arn = api.execution_arn
        self.body = body
        self.stage_name = stage.stage_name
        self.api_name = api.name
        self.register_outputs(
            {"url": self.url, "rest_api_id": self.rest_api_id, "execution_arn": self.execution_arn}
        )

    @staticmethod
    def _validate(name: str, args: RestApiArgs) -> None:
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
        if args.disable_execute_api_endpoint and args.domain is None:
            raise ValueError(
                f"RestApi {name}: disable_execute_api_endpoint needs a custom domain, or the API "
                "has no endpoint at all; pass domain or leave the default endpoint on"
            )
        if args.domain is not None:
            if not DOMAIN_NAME.fullmatch(args.domain.domain_name):
                raise ValueError(
                    f"RestApi {name}: domain.domain_name must be a lowercase host name such as "
                    f"api.example.com, got {args.domain.domain_name!r}"
                )
            zone = args.domain.zone_id
            if zone is not None and not HOSTED_ZONE_ID.fullmatch(zone):
                raise ValueError(
                    f"RestApi {name}: domain.zone_id must be a Route 53 hosted zone id (Z...), "
                    f"got {zone!r}"
                )

    def _domain(
        self,
        name: str,
        *,
        domain: ApiDomain,
        api: aws.apigateway.RestApi,
        stage: aws.apigateway.Stage,
        tags: Mapping[str, str],
        child: pulumi.ResourceOptions,
    ) -> pulumi.Output[str]:
        """DomainName (regional, TLS 1.2), the stage mapped at its root, the alias record."""
        custom = aws.apigateway.DomainName(
            f"{name}-domain",
            domain_name=domain.domain_name,
            regional_certificate_arn=domain.certificate_arn,
            endpoint_configuration=aws.apigateway.DomainNameEndpointConfigurationArgs(
                types="REGIONAL"
            ),
            security_policy=TLS_POLICY,
            tags=dict(tags),
            opts=child,
        )
        aws.apigateway.BasePathMapping(
            f"{name}-mapping",
            rest_api=api.id,
            stage_name=stage.stage_name,
            domain_name=custom.domain_name,
            opts=child,
        )
        if domain.zone_id is not None:
            aws.route53.Record(
                f"{name}-dns",
                zone_id=domain.zone_id,
                name=domain.domain_name,
                type="A",
                aliases=[
                    aws.route53.RecordAliasArgs(
                        name=custom.regional_domain_name,
                        zone_id=custom.regional_zone_id,
                        evaluate_target_health=False,
                    )
                ],
                opts=child,
            )
        return custom.regional_domain_name

    @staticmethod
    def _account_logging_role(
        name: str, tags: Mapping[str, str], child: pulumi.ResourceOptions
    ) -> aws.apigateway.Account:
        identity = aws.get_caller_identity_output()
        region = aws.get_region_output()
        role = aws.iam.Role(
            f"{name}-cloudwatch",
            assume_role_policy=assume_role_policy("apigateway.amazonaws.com"),
            description="API Gateway (account-wide): write access and execution logs",
            tags=dict(tags),
            opts=child,
        )
        policy = aws.iam.RolePolicy(
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
        return aws.apigateway.Account(
            f"{name}-account",
            cloudwatch_role_arn=role.arn,
            opts=pulumi.ResourceOptions(parent=child.parent, depends_on=[policy]),
        )
