"""Guardrails for Load balancer."""

from __future__ import annotations

from collections.abc import Iterator

from policy.model import (
    Resource,
    Rule,
    as_list,
    dig,
)
from policy.rules.common import (
    LOAD_BALANCERS,
    rule,
)


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


RULES: tuple[Rule, ...] = (
    rule("alb-drop-invalid-headers", "ELB.4", LOAD_BALANCERS, _lb_drop_invalid_headers,
          "Application load balancers drop invalid HTTP headers."),
    rule("alb-desync-mitigation", "ELB.12", LOAD_BALANCERS, _lb_desync,
          "Load balancers use defensive or strictest desync mitigation."),
    rule("alb-multi-az", "ELB.13", LOAD_BALANCERS, _lb_multi_az,
          "Load balancers span at least two Availability Zones."),
    rule("alb-deletion-protection-in-prod", "ELB.6", LOAD_BALANCERS, _lb_deletion_protection,
          "Production load balancers have deletion protection."),
)  # fmt: skip
