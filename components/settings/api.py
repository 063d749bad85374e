"""The REST API section: stage, throttling, the authorizer cache, account logging."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from components.settings.reader import (
    Reader,
)


@dataclass(frozen=True, kw_only=True)
class ApiSettings:
    routes_path: Path
    stage_name: str
    throttle_rate_limit: int
    throttle_burst_limit: int
    authorizer_cache_ttl_seconds: int
    manage_account_logging_role: bool


def read_api(r: Reader) -> ApiSettings:
    routes_path = r.string("routesPath", "app/routes.json")
    stage = r.matching("apiStageName", "v1", r"[A-Za-z0-9_]{1,64}", "must match [A-Za-z0-9_]{1,64}")
    rate = r.integer("apiThrottleRateLimit", 1, 10000, "requests per second")
    burst = r.integer("apiThrottleBurstLimit", 1, 5000, "requests")
    if burst < min(rate, 5000):
        r.fail(
            "apiThrottleBurstLimit",
            f"must be at least apiThrottleRateLimit ({rate})",
            burst,
            r.set_fix("apiThrottleBurstLimit", min(rate, 5000)),
        )
    return ApiSettings(
        routes_path=Path(routes_path),
        stage_name=stage,
        throttle_rate_limit=rate,
        throttle_burst_limit=burst,
        authorizer_cache_ttl_seconds=r.integer("authorizerCacheTtlSeconds", 0, 3600, "seconds"),
        manage_account_logging_role=r.boolean("apiGatewayAccountLogging"),
    )
