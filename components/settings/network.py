"""The network section: a new VPC or an existing one."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import Literal

from components.settings.reader import (
    Reader,
)


@dataclass(frozen=True, kw_only=True)
class NetworkSettings:
    mode: Literal["new", "existing"]
    cidr: str
    az_count: int
    nat_gateways: int
    existing_vpc_id: str
    existing_public_subnet_ids: tuple[str, ...]
    existing_private_subnet_ids: tuple[str, ...]


def _private_cidr(cidr: str) -> bool:
    try:
        net = ipaddress.IPv4Network(cidr, strict=True)
    except ValueError:
        return False
    return net.is_private and 16 <= net.prefixlen <= 24


_VPC_ID = re.compile(r"vpc-[0-9a-f]{8,17}")
_SUBNET_ID = re.compile(r"subnet-[0-9a-f]{8,17}")


def read_network(r: Reader) -> NetworkSettings:
    fix = r.set_fix
    mode = r.choice("vpcMode", ("new", "existing"))
    cidr = r.string("vpcCidr", "10.0.0.0/16")
    az_count = r.integer("availabilityZoneCount", 2, 3, "zones")
    nat = r.integer("natGateways", 1, 3, "gateways")
    vpc_id = r.string("existingVpcId", "vpc-0abc")
    public_ids = r.strings("existingPublicSubnetIds")
    private_ids = r.strings("existingPrivateSubnetIds")
    if mode == "new":
        if not _private_cidr(cidr):
            r.fail(
                "vpcCidr",
                "must be a private IPv4 network of /16 to /24",
                cidr,
                fix("vpcCidr", "10.0.0.0/16"),
            )
        if nat > az_count:
            r.fail(
                "natGateways",
                f"must be at most availabilityZoneCount ({az_count}): one NAT per AZ at most",
                nat,
                fix("natGateways", az_count),
            )
    elif mode == "existing":
        if not _VPC_ID.fullmatch(vpc_id):
            r.fail(
                "existingVpcId",
                "vpcMode existing needs a VPC id vpc-<hex>",
                vpc_id,
                fix("existingVpcId", "vpc-0123456789abcdef0"),
            )
        for key, ids in (
            ("existingPublicSubnetIds", public_ids),
            ("existingPrivateSubnetIds", private_ids),
        ):
            if len(ids) < 2 or not all(_SUBNET_ID.fullmatch(i) for i in ids):
                r.fail(
                    key,
                    "vpcMode existing needs at least two subnet ids subnet-<hex> in two AZs",
                    list(ids),
                    fix(key, ["subnet-0aaa1111", "subnet-0bbb2222"]),
                )
    return NetworkSettings(
        mode=mode,  # type: ignore[arg-type]
        cidr=cidr,
        az_count=az_count,
        nat_gateways=nat,
        existing_vpc_id=vpc_id,
        existing_public_subnet_ids=public_ids,
        existing_private_subnet_ids=private_ids,
    )
