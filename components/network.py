"""Network: a new VPC over N AZs (public + private subnets, IGW, NAT) or an existing VPC."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

TYPE = "rust-on-aws:network:Network"


def _nth(i: int) -> Callable[[Sequence[str]], str]:
    """The i-th availability zone name of getAvailabilityZones' list."""

    def pick(names: Sequence[str]) -> str:
        return names[i]

    return pick


@dataclass(frozen=True, kw_only=True)
class NetworkArgs:
    cidr: str = "10.0.0.0/16"
    """IPv4 CIDR of a new VPC (/16../24). Default 10.0.0.0/16."""
    az_count: int = 2
    """Availability zones to span (2 or 3). Default 2."""
    nat_gateways: int = 1
    """NAT gateways, 1..az_count; private subnets of AZs without one use the first. Default 1."""
    existing_vpc_id: str | None = None
    """Use this VPC instead of creating one (then the subnet ids below are required)."""
    existing_public_subnet_ids: tuple[str, ...] = ()
    """Public subnets of the existing VPC (load balancer), at least two."""
    existing_private_subnet_ids: tuple[str, ...] = ()
    """Private subnets of the existing VPC (tasks, Lambdas, database), at least two."""
    tags: dict[str, str] = field(default_factory=dict)
    """Tags on every resource. Default none."""


class Network(pulumi.ComponentResource):
    """A VPC with public subnets (ALB, NAT) and private subnets (everything else)."""

    vpc_id: pulumi.Output[str]
    public_subnet_ids: pulumi.Output[list[str]]
    private_subnet_ids: pulumi.Output[list[str]]

    def __init__(
        self, name: str, args: NetworkArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(TYPE, name, None, opts)
        if args.existing_vpc_id is not None:
            if (
                len(args.existing_public_subnet_ids) < 2
                or len(args.existing_private_subnet_ids) < 2
            ):
                raise ValueError(
                    f"Network {name}: existing_vpc_id needs at least two public and two private "
                    f"subnet ids, got {len(args.existing_public_subnet_ids)} and "
                    f"{len(args.existing_private_subnet_ids)}"
                )
            self.vpc_id = pulumi.Output.from_input(args.existing_vpc_id)
            self.public_subnet_ids = pulumi.Output.from_input(list(args.existing_public_subnet_ids))
            self.private_subnet_ids = pulumi.Output.from_input(
                list(args.existing_private_subnet_ids)
            )
            self.register_outputs(
                {
                    "vpc_id": self.vpc_id,
                    "public_subnet_ids": self.public_subnet_ids,
                    "private_subnet_ids": self.private_subnet_ids,
                }
            )
            return
        if not 2 <= args.az_count <= 3:
            raise ValueError(f"Network {name}: az_count must be 2 or 3, got {args.az_count}")
        if not 1 <= args.nat_gateways <= args.az_count:
            raise ValueError(
                f"Network {name}: nat_gateways must be in 1..az_count ({args.az_count}), "
                f"got {args.nat_gateways}"
            )
        network = ipaddress.IPv4Network(args.cidr)
        # Eight equal blocks (/prefix+3): public subnets take the first az_count, private ones the
        # next az_count, the rest stay free for later tiers.
        subnets = list(network.subnets(prefixlen_diff=3))
        child = pulumi.ResourceOptions(parent=self)

        def tags(suffix: str) -> dict[str, str]:
            return {**args.tags, "Name": f"{name}-{suffix}"}

        zones = aws.get_availability_zones_output(state="available")
        vpc = aws.ec2.Vpc(
            f"{name}-vpc",
            cidr_block=args.cidr,
            enable_dns_hostnames=True,
            enable_dns_support=True,
            tags=tags("vpc"),
            opts=child,
        )
        # FSBP EC2.2: the VPC's default security group allows nothing. Managing it with no
        # rules removes the allow-all rules AWS creates it with; nothing of ours uses it.
        aws.ec2.DefaultSecurityGroup(
            f"{name}-default-sg",
            vpc_id=vpc.id,
            ingress=[],
            egress=[],
            tags=tags("default-sg-closed"),
            opts=child,
        )
        igw = aws.ec2.InternetGateway(f"{name}-igw", vpc_id=vpc.id, tags=tags("igw"), opts=child)
        public_rt = aws.ec2.RouteTable(
            f"{name}-public",
            vpc_id=vpc.id,
            routes=[aws.ec2.RouteTableRouteArgs(cidr_block="0.0.0.0/0", gateway_id=igw.id)],
            tags=tags("public"),
            opts=child,
        )
        public: list[aws.ec2.Subnet] = []
        private: list[aws.ec2.Subnet] = []
        nats: list[aws.ec2.NatGateway] = []
        for i in range(args.az_count):
            az = zones.names.apply(_nth(i))
            pub = aws.ec2.Subnet(
                f"{name}-public-{i}",
                vpc_id=vpc.id,
                cidr_block=str(subnets[i]),
                availability_zone=az,
                map_public_ip_on_launch=False,
                tags=tags(f"public-{i}"),
                opts=child,
            )
            aws.ec2.RouteTableAssociation(
                f"{name}-public-{i}", subnet_id=pub.id, route_table_id=public_rt.id, opts=child
            )
            public.append(pub)
            if i < args.nat_gateways:
                eip = aws.ec2.Eip(
                    f"{name}-nat-{i}", domain="vpc", tags=tags(f"nat-{i}"), opts=child
                )
                nats.append(
                    aws.ec2.NatGateway(
                        f"{name}-nat-{i}",
                        allocation_id=eip.id,
                        subnet_id=pub.id,
                        tags=tags(f"nat-{i}"),
                        opts=pulumi.ResourceOptions(parent=self, depends_on=[igw]),
                    )
                )
        for i in range(args.az_count):
            priv = aws.ec2.Subnet(
                f"{name}-private-{i}",
                vpc_id=vpc.id,
                cidr_block=str(subnets[args.az_count + i]),
                availability_zone=zones.names.apply(_nth(i)),
                tags=tags(f"private-{i}"),
                opts=child,
            )
            nat = nats[i] if i < len(nats) else nats[0]
            rt = aws.ec2.RouteTable(
                f"{name}-private-{i}",
                vpc_id=vpc.id,
                routes=[aws.ec2.RouteTableRouteArgs(cidr_block="0.0.0.0/0", nat_gateway_id=nat.id)],
                tags=tags(f"private-{i}"),
                opts=child,
            )
            aws.ec2.RouteTableAssociation(
                f"{name}-private-{i}", subnet_id=priv.id, route_table_id=rt.id, opts=child
            )
            private.append(priv)

        self.vpc_id = vpc.id
        self.public_subnet_ids = pulumi.Output.all(*[s.id for s in public])
        self.private_subnet_ids = pulumi.Output.all(*[s.id for s in private])
        self.register_outputs(
            {
                "vpc_id": self.vpc_id,
                "public_subnet_ids": self.public_subnet_ids,
                "private_subnet_ids": self.private_subnet_ids,
            }
        )
