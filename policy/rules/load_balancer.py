"""Guardrails for Load balancer."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping

from policy.model import (
    Resource,
    Rule,
    as_list,
    dig,
)
from policy.rules.common import (
    LISTENERS,
    LOAD_BALANCERS,
    rule,
)

#: ELB.17's recommended policies: TLS 1.2 or 1.3 as the minimum
#: (https://docs.aws.amazon.com/elasticloadbalancing/latest/application/describe-ssl-policies.html).
RECOMMENDED_SSL_POLICY = re.compile(r"ELBSecurityPolicy-TLS13-1-[23]-[A-Za-z0-9-]+")


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


def _listener_redirects_http(r: Resource) -> Iterator[str]:
    """ELB.1: an HTTP listener only redirects to HTTPS (it never forwards plain HTTP)."""
    if dig(r.props, "protocol", "HTTP") != "HTTP":
        return
    for action in as_list(dig(r.props, "defaultActions")):
        kind = action.get("type") if isinstance(action, Mapping) else None
        target = action.get("redirect") if isinstance(action, Mapping) else None
        if kind != "redirect" or not isinstance(target, Mapping):
            yield (
                "a listener must not serve plain HTTP; got an HTTP listener whose default "
                f"action is {kind!r}; serve HTTPS on 443 and make HTTP redirect to it"
            )
        elif target.get("protocol") != "HTTPS":
            yield (
                "an HTTP listener must redirect to HTTPS; got a redirect to protocol "
                f"{target.get('protocol')!r}; set redirect protocol='HTTPS'"
            )


def _listener_tls_policy(r: Resource) -> Iterator[str]:
    if dig(r.props, "protocol") not in ("HTTPS", "TLS"):
        return
    policy = dig(r.props, "sslPolicy")
    if not isinstance(policy, str) or not RECOMMENDED_SSL_POLICY.fullmatch(policy):
        yield (
            f"HTTPS listeners must use a TLS 1.2+ recommended policy; got sslPolicy={policy!r}; "
            "set ssl_policy='ELBSecurityPolicy-TLS13-1-2-2021-06'"
        )


RULES: tuple[Rule, ...] = (
    rule("alb-http-redirects-to-https", "ELB.1", LISTENERS, _listener_redirects_http,
          "No listener serves plain HTTP: HTTP listeners redirect to HTTPS."),
    rule("alb-tls-policy", "ELB.17", LISTENERS, _listener_tls_policy,
          "HTTPS listeners use a recommended TLS 1.2+ security policy."),
    rule("alb-drop-invalid-headers", "ELB.4", LOAD_BALANCERS, _lb_drop_invalid_headers,
          "Application load balancers drop invalid HTTP headers."),
    rule("alb-desync-mitigation", "ELB.12", LOAD_BALANCERS, _lb_desync,
          "Load balancers use defensive or strictest desync mitigation."),
    rule("alb-multi-az", "ELB.13", LOAD_BALANCERS, _lb_multi_az,
          "Load balancers span at least two Availability Zones."),
    rule("alb-deletion-protection-in-prod", "ELB.6", LOAD_BALANCERS, _lb_deletion_protection,
          "Production load balancers have deletion protection."),
)  # fmt: skip
