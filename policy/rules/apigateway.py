"""Guardrails for API Gateway."""

from __future__ import annotations

from collections.abc import Iterator

from policy.model import (
    Resource,
    Rule,
    dig,
    is_set,
)
from policy.rules.common import (
    API_METHOD,
    API_METHOD_SETTINGS,
    API_STAGE,
    rule,
)


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


RULES: tuple[Rule, ...] = (
    rule("apigateway-method-authorized", "APIGateway.8", [API_METHOD], _method_authorized,
          "Every API Gateway method is authorized by the CUSTOM (TOKEN) authorizer."),
    rule("apigateway-stage-access-logging", "APIGateway.9", [API_STAGE], _stage_access_logs,
          "API Gateway stages write access logs."),
    rule("apigateway-stage-xray", "APIGateway.3", [API_STAGE], _stage_xray,
          "API Gateway REST stages have X-Ray tracing enabled."),
    rule("apigateway-cache-encrypted", "APIGateway.5", [API_METHOD_SETTINGS],
          _method_settings_cache_encrypted, "API Gateway cache data is encrypted at rest."),
    rule("apigateway-stage-throttled", "custom", [API_METHOD_SETTINGS],
          _method_settings_throttled, "API Gateway stages set rate and burst throttling."),
)  # fmt: skip
