"""components/rest_api.py: the OpenAPI document, and the RestApi component under mocks.

Independent truths used here: the OpenAPI 3 schema (openapi-spec-validator), moto's
implementation of API Gateway's PutRestApi import (resources and methods it creates from the
document, and what an `overwrite` import removes), the ARN formats AWS documents, the shared
token cases of app/token-cases.json, and Pulumi's own record of which resource each input was
made from (the plan's inputDependencies), never a value the mocks invented.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws
from openapi_spec_validator import validate

from components.rest_api import (
    IDENTITY_SOURCE,
    IDENTITY_VALIDATION,
    ApiDomain,
    RestApi,
    RestApiArgs,
    openapi_document,
)
from components.routes import Route, load_routes
from tests.components.conftest import lambdas

ROOT = Path(__file__).resolve().parents[2]
ROUTES = load_routes(ROOT / "app" / "routes.json")
#: https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-api-integration-types.html
#: (a Lambda proxy integration's uri) and the authorizerUri of
#: https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-swagger-extensions-authorizer.html
INVOKE_ARN = re.compile(
    r"arn:aws:apigateway:(?P<region>[a-z0-9-]+):lambda:path/2015-03-31/functions/"
    r"(?P<function>arn:aws:lambda:(?P=region):\d{12}:function:[A-Za-z0-9_-]+(:[A-Za-z0-9_-]+)?)"
    r"/invocations"
)
HANDLER_URI = (
    "arn:aws:apigateway:eu-west-1:lambda:path/2015-03-31/functions/"
    "arn:aws:lambda:eu-west-1:111122223333:function:handler:live/invocations"
)
AUTHORIZER_URI = HANDLER_URI.replace("function:handler", "function:authorizer")
API = "aws:apigateway/restApi:RestApi"
CERT = "arn:aws:acm:eu-west-1:123456789012:certificate/0b7c9a1e-2f3d-4c5b-8a6e-1d2c3b4a5f60"


def document(routes: tuple[Route, ...] = ROUTES, **changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "title": "api",
        "handler_uri": HANDLER_URI,
        "authorizer_uri": AUTHORIZER_URI,
        "authorizer_cache_ttl_seconds": 300,
        "disable_execute_api_endpoint": False,
    }
    base.update(changes)
    return openapi_document(routes, **base)


def operations(doc: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {
        (method.upper(), path): op
        for path, item in doc["paths"].items()
        for method, op in item.items()
    }


# ---- the document ---------------------------------------------------------------------------


def test_document_is_valid_openapi_3() -> None:
    validate(document())  # raises on any violation of the OpenAPI 3.0 schema


def test_one_operation_per_route_each_behind_the_token_scheme() -> None:
    doc = document()
    ops = operations(doc)
    assert set(ops) == {(r.method, r.path) for r in ROUTES}
    schemes = doc["components"]["securitySchemes"]
    for (_, path), op in ops.items():
        [requirement] = op["security"]
        [(scheme, scopes)] = requirement.items()
        assert scopes == []
        assert schemes[scheme]["x-amazon-apigateway-authtype"] == "custom"
        params = {p["name"] for p in op.get("parameters", []) if p["in"] == "path"}
        assert params == set(re.findall(r"\{([a-z_0-9]+)\}", path))
        integration = op["x-amazon-apigateway-integration"]
        assert (integration["type"], integration["httpMethod"]) == ("aws_proxy", "POST")
        assert integration["uri"] == HANDLER_URI
    # no operation outside the table, and no top-level security that could override it
    assert "security" not in doc


def test_the_authorizer_scheme() -> None:
    [scheme] = document(authorizer_cache_ttl_seconds=120)["components"]["securitySchemes"].values()
    assert (scheme["type"], scheme["in"], scheme["name"]) == ("apiKey", "header", "Authorization")
    authorizer = scheme["x-amazon-apigateway-authorizer"]
    assert authorizer == {
        "type": "token",
        "authorizerUri": AUTHORIZER_URI,
        "identitySource": "method.request.header.Authorization",
        "identityValidationExpression": IDENTITY_VALIDATION,
        "authorizerResultTtlInSeconds": 120,
    }


def test_identity_validation_agrees_with_the_shared_token_cases() -> None:
    """The gateway's expression lets through exactly the headers the Rust parser accepts
    (app/core/src/auth.rs tests the parser against the same file)."""
    cases = json.loads((ROOT / "app" / "token-cases.json").read_text())
    pattern = re.compile(IDENTITY_VALIDATION)
    for case in cases["valid"]:
        assert pattern.search(case["header"]), case
    for case in cases["invalid"]:
        # search with the anchors is what a Java Matcher.find() does; `$` before a final
        # newline is the one place the flavours differ, and a header cannot end in one.
        assert not pattern.search(case["header"]) or case["header"].endswith("\n"), case
        assert not pattern.fullmatch(case["header"]), case
    assert len(cases["invalid"]) >= 20


def _moto_import(doc: dict[str, Any], api_id: str | None = None) -> tuple[str, dict]:
    client = boto3.client(
        "apigateway",
        region_name="eu-west-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    body = json.dumps(doc).encode()
    if api_id is None:
        api_id = client.import_rest_api(failOnWarnings=True, body=body)["id"]
    else:
        client.put_rest_api(restApiId=api_id, mode="overwrite", failOnWarnings=True, body=body)
    resources = client.get_resources(restApiId=api_id, embed=["methods"])["items"]
    methods = {
        (method, r["path"]): client.get_integration(
            restApiId=api_id, resourceId=r["id"], httpMethod=method
        )
        for r in resources
        for method in r.get("resourceMethods", {})
    }
    return api_id, methods


@mock_aws
def test_api_gateway_import_creates_exactly_the_routes_and_overwrite_removes_one() -> None:
    """moto's PutRestApi (import and overwrite) builds resources and methods from the document
    as API Gateway does; after removing a route and re-importing, its method is gone."""
    api_id, methods = _moto_import(document())
    assert set(methods) == {(r.method, r.path) for r in ROUTES}
    for integration in methods.values():
        # API Gateway reports AWS_PROXY; moto keeps the document's spelling
        assert (integration["type"].upper(), integration["uri"]) == ("AWS_PROXY", HANDLER_URI)
    removed = next(r for r in ROUTES if r.method == "POST" and "tags" in r.path)
    fewer = tuple(r for r in ROUTES if r != removed)
    _, methods = _moto_import(document(fewer), api_id)
    assert set(methods) == {(r.method, r.path) for r in fewer}
    assert (removed.method, removed.path) not in methods


# ---- the component --------------------------------------------------------------------------


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


def test_api_is_the_document_imported_in_overwrite_mode(run, manifest) -> None:
    plan = run(api(manifest))
    entry = plan.one(API)
    inputs = entry["inputs"]
    assert inputs["putRestApiMode"] == "overwrite"
    assert inputs["failOnWarnings"] is True
    assert inputs["endpointConfiguration"] == {"types": "REGIONAL"}
    assert inputs["securityPolicy"] == "TLS_1_2"
    body = json.loads(inputs["body"])
    validate(body)
    assert set(operations(body)) == {(r.method, r.path) for r in ROUTES}
    # the body is made from the two `live` aliases, and nothing else
    fed = {e["name"] for e in plan.fed_by(entry, "body")}
    assert fed == {"handler-live", "authorizer-live"}
    uris = {op["x-amazon-apigateway-integration"]["uri"] for op in operations(body).values()}
    [uri] = uris
    match = INVOKE_ARN.fullmatch(uri)
    assert match and match["function"].endswith(":function:handler:live"), uri
    [scheme] = body["components"]["securitySchemes"].values()
    authorizer_uri = scheme["x-amazon-apigateway-authorizer"]["authorizerUri"]
    match = INVOKE_ARN.fullmatch(authorizer_uri)
    assert match and match["function"].endswith(":function:authorizer:live"), authorizer_uri
    assert scheme["x-amazon-apigateway-authorizer"]["identitySource"] == IDENTITY_SOURCE


def test_a_removed_route_is_gone_from_the_api_and_redeploys_in_one_up(run, manifest) -> None:
    plan = run(api(manifest))
    deployment = plan.one("aws:apigateway/deployment:Deployment")
    trigger = deployment["inputs"]["triggers"]["redeployment"]
    assert {e["name"] for e in plan.fed_by(deployment, "restApi")} == {"api-api"}
    stage = plan.one("aws:apigateway/stage:Stage")
    assert {e["name"] for e in plan.fed_by(stage, "deployment")} == {"api-deployment"}

    removed = ROUTES[-1]
    fewer_plan = run(api(manifest, routes=ROUTES[:-1]))
    body = json.loads(fewer_plan.inputs(API)["body"])
    assert (removed.method, removed.path) not in operations(body)
    fewer = fewer_plan.one("aws:apigateway/deployment:Deployment")
    assert fewer["inputs"]["triggers"]["redeployment"] != trigger
    # other settings in the document redeploy too; the same document does not
    ttl = run(api(manifest, authorizer_cache_ttl_seconds=0)).one(
        "aws:apigateway/deployment:Deployment"
    )
    assert ttl["inputs"]["triggers"]["redeployment"] != trigger
    again = run(api(manifest)).one("aws:apigateway/deployment:Deployment")
    assert again["inputs"]["triggers"]["redeployment"] == trigger


def test_permissions_are_scoped_to_this_api(run, manifest) -> None:
    plan = run(api(manifest))
    permissions = {e["name"]: e for e in plan.of("aws:lambda/permission:Permission")}
    for label, function, suffix in (
        ("api-invoke-handler", "handler", "/*/*"),
        ("api-invoke-authorizer", "authorizer", "/authorizers/*"),
    ):
        entry = permissions[label]
        inputs = entry["inputs"]
        assert (inputs["function"], inputs["qualifier"]) == (function, "live")
        assert inputs["principal"] == "apigateway.amazonaws.com"
        assert {e["name"] for e in plan.fed_by(entry, "sourceArn")} == {"api-api"}
        # arn:aws:execute-api:{region}:{account}:{api_id}/... (the documented source ARN shape)
        assert re.fullmatch(
            r"arn:aws:execute-api:eu-west-1:\d{12}:[a-z0-9]{10}" + re.escape(suffix),
            inputs["sourceArn"],
        ), inputs["sourceArn"]


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
    stage_entry = plan.one("aws:apigateway/stage:Stage")
    stage = stage_entry["inputs"]
    assert (
        plan.inputs("aws:cloudwatch/logGroup:LogGroup", "api-access-logs")["retentionInDays"] == 90
    )
    assert stage["stageName"] == "v2"
    assert {e["name"] for e in plan.fed_by(stage_entry, "accessLogSettings")} == {"api-access-logs"}
    assert "$context.tlsVersion" in stage["accessLogSettings"]["format"]
    settings = plan.inputs("aws:apigateway/methodSettings:MethodSettings")
    assert settings["methodPath"] == "*/*"
    assert settings["settings"]["throttlingRateLimit"] == 7
    assert settings["settings"]["throttlingBurstLimit"] == 9


def test_account_logging_role_is_opt_in(run, manifest) -> None:
    assert run(api(manifest)).of("aws:apigateway/account:Account") == []
    plan = run(api(manifest, manage_account_logging_role=True))
    account = plan.one("aws:apigateway/account:Account")
    policy = plan.one("aws:iam/rolePolicy:RolePolicy", "api-cloudwatch")
    assert policy["urn"] in account["dependsOn"]
    assert {e["name"] for e in plan.fed_by(account, "cloudwatchRoleArn")} == {"api-cloudwatch"}


def test_custom_domain_with_tls_1_2_mapped_at_the_root(run, manifest) -> None:
    domain = ApiDomain(domain_name="api.example.com", certificate_arn=CERT, zone_id="Z123ABC")
    plan = run(api(manifest, domain=domain, disable_execute_api_endpoint=True))
    custom = plan.one("aws:apigateway/domainName:DomainName")
    assert custom["inputs"]["domainName"] == "api.example.com"
    assert custom["inputs"]["regionalCertificateArn"] == CERT
    assert custom["inputs"]["securityPolicy"] == "TLS_1_2"
    assert custom["inputs"]["endpointConfiguration"] == {"types": "REGIONAL"}
    mapping = plan.one("aws:apigateway/basePathMapping:BasePathMapping")
    assert "basePath" not in mapping["inputs"]  # the stage at the root of the domain
    assert {e["name"] for e in plan.fed_by(mapping, "restApi")} == {"api-api"}
    assert {e["name"] for e in plan.fed_by(mapping, "stageName")} == {"api-stage"}
    record = plan.one("aws:route53/record:Record")
    assert (record["inputs"]["name"], record["inputs"]["type"]) == ("api.example.com", "A")
    assert record["inputs"]["zoneId"] == "Z123ABC"
    assert {e["name"] for e in plan.fed_by(record, "aliases")} == {"api-domain"}
    api_inputs = plan.inputs(API)
    assert api_inputs["disableExecuteApiEndpoint"] is True
    body = json.loads(api_inputs["body"])
    assert body["x-amazon-apigateway-endpoint-configuration"] == {"disableExecuteApiEndpoint": True}


def test_a_domain_without_a_zone_creates_no_record(run, manifest) -> None:
    plan = run(api(manifest, domain=ApiDomain(domain_name="api.example.com", certificate_arn=CERT)))
    assert plan.of("aws:route53/record:Record") == []
    assert len(plan.of("aws:apigateway/domainName:DomainName")) == 1


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
        (
            {"disable_execute_api_endpoint": True},
            "RestApi api: disable_execute_api_endpoint needs a custom domain, or the API has no "
            "endpoint at all; pass domain or leave the default endpoint on",
        ),
        (
            {"domain": ApiDomain(domain_name="API.example.com", certificate_arn=CERT)},
            "RestApi api: domain.domain_name must be a lowercase host name such as "
            "api.example.com, got 'API.example.com'",
        ),
        (
            {
                "domain": ApiDomain(
                    domain_name="api.example.com", certificate_arn=CERT, zone_id="example.com"
                )
            },
            "RestApi api: domain.zone_id must be a Route 53 hosted zone id (Z...), got "
            "'example.com'",
        ),
    ],
)
def test_guards(run, manifest, changes: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError) as info:
        run(api(manifest, **changes))
    assert str(info.value) == message
