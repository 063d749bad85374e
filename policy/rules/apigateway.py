"""Guardrails for API Gateway."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

from policy.model import (
    Resource,
    Rule,
    dig,
    is_set,
    json_input,
)
from policy.rules.common import (
    API_DOMAIN_NAME,
    API_METHOD,
    API_METHOD_SETTINGS,
    API_REST_API,
    API_STAGE,
    rule,
)

#: Security policies with TLS 1.2 as the minimum (legacy TLS_1_2, and the enhanced
#: SecurityPolicy_TLS13_1_2_* / _1_3_* ones); TLS_1_0 also accepts TLS 1.0 and 1.1
#: (https://docs.aws.amazon.com/apigateway/latest/developerguide/apigateway-security-policies-list.html).
TLS12_POLICY = re.compile(r"TLS_1_2|SecurityPolicy_TLS1[23]_1_[23]_[A-Za-z0-9_]+")
_OPENAPI_METHODS = frozenset(
    {"get", "put", "post", "delete", "options", "head", "patch", "x-amazon-apigateway-any-method"}
)


def _body_operations_authorized(r: Resource) -> Iterator[str]:
    """An OpenAPI `body`: every operation requires a custom (Lambda) authorizer scheme."""
    body = json_input(r.props, "body")
    if not isinstance(body, Mapping):
        return
    schemes = dig(body, "components.securitySchemes") or dig(body, "securityDefinitions") or {}
    custom = {
        name
        for name, scheme in (schemes.items() if isinstance(schemes, Mapping) else ())
        if isinstance(scheme, Mapping)
        and scheme.get("x-amazon-apigateway-authtype") == "custom"
        and isinstance(scheme.get("x-amazon-apigateway-authorizer"), Mapping)
    }
    for path, item in (body.get("paths") or {}).items():
        for method, operation in (item or {}).items():
            if method.lower() not in _OPENAPI_METHODS:
                continue
            required = _required_schemes(operation, body)
            if not required or not required <= custom:
                yield (
                    f"every operation must require the TOKEN authorizer; got {method.upper()} "
                    f"{path} with security {sorted(required)!r} (custom schemes: "
                    f"{sorted(custom)!r}); add security: [{{<authorizer scheme>: []}}]"
                )


def _required_schemes(operation: Any, body: Mapping[str, Any]) -> set[str]:
    """The scheme names an operation requires (its own `security`, else the document's)."""
    security = operation.get("security") if isinstance(operation, Mapping) else None
    if security is None:
        security = body.get("security")
    names: set[str] = set()
    for requirement in security or []:
        if not isinstance(requirement, Mapping) or not requirement:
            return set()  # an empty requirement `{}` means "no authentication" in OpenAPI
        names.update(requirement)
    return names


def _method_authorized(r: Resource) -> Iterator[str]:
    if r.type == API_REST_API:
        yield from _body_operations_authorized(r)
        return
    auth = dig(r.props, "authorization")
    if auth != "CUSTOM" or not is_set(r.props, "authorizerId"):
        yield (
            f"every method must use the TOKEN authorizer; got authorization={auth!r} "
            f"authorizerId={dig(r.props, 'authorizerId')!r}; set authorization='CUSTOM' and "
            "authorizer_id to the API's authorizer"
        )


def _tls12(r: Resource) -> Iterator[str]:
    if r.type == API_REST_API and dig(r.props, "disableExecuteApiEndpoint") is True:
        return  # the default endpoint is off: clients only reach the API through a domain
    policy = dig(r.props, "securityPolicy")
    if not isinstance(policy, str) or not TLS12_POLICY.fullmatch(policy):
        where = "the default execute-api endpoint" if r.type == API_REST_API else "the domain"
        yield (
            f"{where} must refuse TLS below 1.2; got securityPolicy={policy!r} (unset means "
            "TLS_1_0 for a regional endpoint); set security_policy='TLS_1_2'"
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


RULES: tuple[Rule, ...] = (
    rule("apigateway-method-authorized", "APIGateway.8", [API_METHOD, API_REST_API],
          _method_authorized,
          "Every API Gateway method (or OpenAPI operation) requires the TOKEN authorizer."),
    rule("apigateway-tls12", "custom", [API_REST_API, API_DOMAIN_NAME], _tls12,
          "Every API endpoint and custom domain refuses TLS below 1.2."),
    rule("apigateway-stage-access-logging", "APIGateway.9", [API_STAGE], _stage_access_logs,
          "API Gateway stages write access logs."),
    rule("apigateway-stage-xray", "APIGateway.3", [API_STAGE], _stage_xray,
          "API Gateway REST stages have X-Ray tracing enabled."),
    rule("apigateway-cache-encrypted", "APIGateway.5", [API_METHOD_SETTINGS],
          _method_settings_cache_encrypted, "API Gateway cache data is encrypted at rest."),
    rule("apigateway-stage-throttled", "custom", [API_METHOD_SETTINGS],
          _method_settings_throttled, "API Gateway stages set rate and burst throttling."),
)  # fmt: skip
