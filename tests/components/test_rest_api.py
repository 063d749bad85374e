"""components/rest_api.py under mocks."""

from __future__ import annotations

import pytest

from components.rest_api import RestApi, RestApiArgs
from components.routes import Route
from plan.mocks import mock_id
from tests.components.conftest import lambdas

ROUTES = (
    Route("GET", "/devices", "devices:read"),
    Route("POST", "/devices", "devices:write"),
    Route("GET", "/devices/{device_id}", "devices:read"),
    Route("POST", "/devices/{device_id}/commands", "commands:write"),
    Route("POST", "/devices/{device_id}/tags", "devices:write"),
)
INVOKE = "arn:aws:apigateway:eu-west-1:lambda:path/2015-03-31/functions/arn:aws:lambda:eu-west-1:123456789012:function:{}:live/invocations"  # noqa: E501
AUTHORIZER = "aws:apigateway/authorizer:Authorizer"
RESOURCE = "aws:apigateway/resource:Resource"


def api(manifest, routes=ROUTES, **changes):
    def program() -> None:
        functions = lambdas(manifest, *("handler", "authorizer"))
        RestApi(
            "api",
            RestApiArgs(
                routes=routes,
                handler=functions["handler"],
                authorizer=functions["authorizer"],
                **changes,
            ),
        )

    return program


def test_token_authorizer_on_every_method(run, manifest) -> None:
    plan = run(api(manifest, authorizer_cache_ttl_seconds=120))
    authorizer = plan.inputs(AUTHORIZER)
    assert authorizer["type"] == "TOKEN"
    assert authorizer["identitySource"] == "method.request.header.Authorization"
    assert authorizer["authorizerResultTtlInSeconds"] == 120
    assert authorizer["authorizerUri"] == INVOKE.format("authorizer")
    methods = plan.of("aws:apigateway/method:Method")
    assert len(methods) == len(ROUTES)
    for method in methods:
        assert method["inputs"]["authorization"] == "CUSTOM"
        assert method["inputs"]["authorizerId"] == mock_id(AUTHORIZER, "api-authorizer")
    params = plan.inputs("aws:apigateway/method:Method", "api-POST-devices-by-device_id-commands")
    assert params["requestParameters"] == {"method.request.path.device_id": True}


def test_resources_share_prefixes(run, manifest) -> None:
    plan = run(api(manifest))
    resources = {e["name"]: e["inputs"] for e in plan.of(RESOURCE)}
    assert sorted(resources) == [
        "api-devices",
        "api-devices-by-device_id",
        "api-devices-by-device_id-commands",
        "api-devices-by-device_id-tags",
    ]
    assert resources["api-devices"]["pathPart"] == "devices"
    assert resources["api-devices-by-device_id"]["pathPart"] == "{device_id}"
    assert resources["api-devices-by-device_id"]["parentId"] == mock_id(RESOURCE, "api-devices")
    assert resources["api-devices-by-device_id-tags"]["parentId"] == mock_id(
        RESOURCE, "api-devices-by-device_id"
    )


def test_integrations_target_the_handler_alias(run, manifest) -> None:
    plan = run(api(manifest))
    integrations = plan.of("aws:apigateway/integration:Integration")
    assert len(integrations) == len(ROUTES)
    for integration in integrations:
        inputs = integration["inputs"]
        assert inputs["type"] == "AWS_PROXY"
        assert inputs["integrationHttpMethod"] == "POST"
        assert inputs["uri"] == INVOKE.format("handler")


def test_permissions_are_scoped_to_this_api(run, manifest) -> None:
    plan = run(api(manifest))
    api_id = mock_id("aws:apigateway/restApi:RestApi", "api-api")
    execution = f"arn:aws:execute-api:eu-west-1:123456789012:{api_id}"
    permissions = {e["name"]: e["inputs"] for e in plan.of("aws:lambda/permission:Permission")}
    assert permissions["api-invoke-handler"] == {
        "action": "lambda:InvokeFunction",
        "function": "handler",
        "qualifier": "live",
        "principal": "apigateway.amazonaws.com",
        "sourceArn": f"{execution}/*/*",
    }
    assert permissions["api-invoke-authorizer"]["sourceArn"] == (
        f"{execution}/authorizers/{mock_id(AUTHORIZER, 'api-authorizer')}"
    )
    assert permissions["api-invoke-authorizer"]["function"] == "authorizer"


def test_deployment_waits_for_routes_and_redeploys_on_change(run, manifest) -> None:
    plan = run(api(manifest))
    deployment = plan.one("aws:apigateway/deployment:Deployment")
    routed = plan.of("aws:apigateway/method:Method") + plan.of(
        "aws:apigateway/integration:Integration"
    )
    assert {e["urn"] for e in routed} <= set(deployment["dependsOn"])
    trigger = deployment["inputs"]["triggers"]["redeployment"]
    fewer = run(api(manifest, routes=ROUTES[:-1])).one("aws:apigateway/deployment:Deployment")
    assert fewer["inputs"]["triggers"]["redeployment"] != trigger
    ttl = run(api(manifest, authorizer_cache_ttl_seconds=0)).one(
        "aws:apigateway/deployment:Deployment"
    )
    assert ttl["inputs"]["triggers"]["redeployment"] != trigger
    again = run(api(manifest)).one("aws:apigateway/deployment:Deployment")
    assert again["inputs"]["triggers"]["redeployment"] == trigger


def test_stage_access_logs_and_throttling(run, manifest) -> None:
    plan = run(
        api(
            manifest,
            stage_name="v2",
            throttle_rate_limit=7,
            throttle_burst_limit=9,
            log_retention_days=90,
        )
    )
    stage = plan.inputs("aws:apigateway/stage:Stage")
    log_group = plan.inputs("aws:cloudwatch/logGroup:LogGroup", "api-access-logs")
    assert log_group["retentionInDays"] == 90
    assert stage["stageName"] == "v2"
    assert stage["accessLogSettings"]["destinationArn"] == (
        f"arn:aws:logs:eu-west-1:123456789012:log-group:{log_group['name']}"
    )
    assert stage["deployment"] == mock_id("aws:apigateway/deployment:Deployment", "api-deployment")
    settings = plan.inputs("aws:apigateway/methodSettings:MethodSettings")
    assert settings["methodPath"] == "*/*"
    assert settings["settings"]["throttlingRateLimit"] == 7
    assert settings["settings"]["throttlingBurstLimit"] == 9


def test_account_logging_role_is_optional(run, manifest) -> None:
    assert len(run(api(manifest)).of("aws:apigateway/account:Account")) == 1
    plan = run(api(manifest, manage_account_logging_role=False))
    assert plan.of("aws:apigateway/account:Account") == []


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"routes": ()}, "RestApi api: routes must not be empty"),
        (
            {"authorizer_cache_ttl_seconds": 3601},
            "RestApi api: authorizer_cache_ttl_seconds must be in 0..3600, got 3601",
        ),
        (
            {"throttle_rate_limit": 0},
            "RestApi api: throttle limits must be positive, got rate 0 burst 100",
        ),
    ],
)
def test_guards(run, manifest, changes: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError) as info:
        run(api(manifest, **changes))
    assert str(info.value) == message
