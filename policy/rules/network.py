"""Guardrails for EC2 security groups and subnets."""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from policy.model import (
    Resource,
    Rule,
    as_list,
    dig,
    is_set,
)
from policy.rules.common import (
    DEFAULT_SECURITY_GROUP,
    OPEN_CIDRS,
    POSTGRES_PORT,
    PUBLIC_PORTS,
    SECURITY_GROUP,
    SECURITY_GROUP_RULE,
    SG_INGRESS_RULE,
    SUBNET,
    rule,
)


def _ingress_entries(r: Resource) -> Iterator[tuple[int, int, str, list[str], bool]]:
    """(from, to, protocol, CIDRs, has_source_sg) for every ingress this resource opens."""
    if r.type == SECURITY_GROUP:
        for rule in as_list(dig(r.props, "ingress")):
            if isinstance(rule, Mapping):
                yield (
                    int(rule.get("fromPort", 0)),
                    int(rule.get("toPort", 0)),
                    str(rule.get("protocol", "-1")),
                    [*as_list(rule.get("cidrBlocks")), *as_list(rule.get("ipv6CidrBlocks"))],
                    bool(rule.get("securityGroups")) or bool(rule.get("self")),
                )
    elif r.type == SECURITY_GROUP_RULE and dig(r.props, "type") == "ingress":
        yield (
            int(dig(r.props, "fromPort", 0)),
            int(dig(r.props, "toPort", 0)),
            str(dig(r.props, "protocol", "-1")),
            [*as_list(dig(r.props, "cidrBlocks")), *as_list(dig(r.props, "ipv6CidrBlocks"))],
            is_set(r.props, "sourceSecurityGroupId") or dig(r.props, "self") is True,
        )
    elif r.type == SG_INGRESS_RULE:
        yield (
            int(dig(r.props, "fromPort", 0)),
            int(dig(r.props, "toPort", 0)),
            str(dig(r.props, "ipProtocol", "-1")),
            [*as_list(dig(r.props, "cidrIpv4")), *as_list(dig(r.props, "cidrIpv6"))],
            is_set(r.props, "referencedSecurityGroupId"),
        )


def _sg_open_ports(r: Resource) -> Iterator[str]:
    for low, high, protocol, cidrs, _ in _ingress_entries(r):
        open_to = sorted(OPEN_CIDRS.intersection(cidrs))
        if not open_to:
            continue
        all_ports = protocol in ("-1", "all")
        if all_ports or low != high or low not in PUBLIC_PORTS:
            ports = "all ports" if all_ports else f"ports {low}-{high}/{protocol}"
            yield (
                f"ingress from {', '.join(open_to)} is allowed only on 80/443; got {ports}; "
                "restrict the source to a security group or a known range"
            )


def _sg_database_from_groups(r: Resource) -> Iterator[str]:
    for low, high, protocol, cidrs, has_group in _ingress_entries(r):
        if protocol in ("-1", "all") or not (low <= POSTGRES_PORT <= high):
            continue
        if cidrs:
            yield (
                f"PostgreSQL ({POSTGRES_PORT}) must be reachable only from security groups; got "
                f"CIDRs {cidrs}; use source_security_group_id of the service/Lambda groups"
            )
        elif not has_group:
            yield f"ingress on {POSTGRES_PORT} must name a source group; got none; add one"


def _default_sg_closed(r: Resource) -> Iterator[str]:
    if as_list(dig(r.props, "ingress")) or as_list(dig(r.props, "egress")):
        yield (
            "the VPC's default security group must allow no traffic; got "
            f"{len(as_list(dig(r.props, 'ingress')))} ingress and "
            f"{len(as_list(dig(r.props, 'egress')))} egress rule(s); remove them"
        )


def _subnet_no_auto_public_ip(r: Resource) -> Iterator[str]:
    if dig(r.props, "mapPublicIpOnLaunch") is True:
        yield (
            "subnets must not give public IPs automatically; got mapPublicIpOnLaunch=True; "
            "the load balancer does not need it, so drop it"
        )


RULES: tuple[Rule, ...] = (
    rule("sg-public-ingress-web-ports-only", "EC2.18",
          [SECURITY_GROUP, SECURITY_GROUP_RULE, SG_INGRESS_RULE], _sg_open_ports,
          "Ingress from 0.0.0.0/0 or ::/0 only on 80/443 (also EC2.13/14/19/53/54)."),
    rule("sg-database-from-security-groups", "custom",
          [SECURITY_GROUP, SECURITY_GROUP_RULE, SG_INGRESS_RULE], _sg_database_from_groups,
          "PostgreSQL is reachable only from security groups, never from CIDR ranges."),
    rule("default-sg-closed", "EC2.2", [DEFAULT_SECURITY_GROUP], _default_sg_closed,
          "A managed default security group allows no traffic."),
    rule("subnet-no-auto-public-ip", "EC2.15", [SUBNET], _subnet_no_auto_public_ip,
          "Subnets do not assign public IPs automatically."),
)  # fmt: skip
