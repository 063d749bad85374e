"""components/network.py under mocks."""

from __future__ import annotations

import pytest

from components.network import Network, NetworkArgs
from plan.mocks import mock_id

SUBNET = "aws:ec2/subnet:Subnet"
RT = "aws:ec2/routeTable:RouteTable"
NAT = "aws:ec2/natGateway:NatGateway"


def test_new_vpc_over_two_azs_with_one_nat(run) -> None:
    plan = run(lambda: Network("n", NetworkArgs(cidr="10.20.0.0/16", nat_gateways=1)))
    assert plan.inputs("aws:ec2/vpc:Vpc")["cidrBlock"] == "10.20.0.0/16"
    subnets = {e["name"]: e["inputs"] for e in plan.of(SUBNET)}
    assert {k: (v["cidrBlock"], v["availabilityZone"]) for k, v in subnets.items()} == {
        "n-public-0": ("10.20.0.0/19", "eu-west-1a"),
        "n-public-1": ("10.20.32.0/19", "eu-west-1b"),
        "n-private-0": ("10.20.64.0/19", "eu-west-1a"),
        "n-private-1": ("10.20.96.0/19", "eu-west-1b"),
    }
    assert all(not s.get("mapPublicIpOnLaunch") for s in subnets.values())
    nat = plan.one(NAT, "n-nat-0")
    assert nat["inputs"]["subnetId"] == mock_id(SUBNET, "n-public-0")
    igw = plan.one("aws:ec2/internetGateway:InternetGateway")
    assert igw["urn"] in nat["dependsOn"]
    # both private route tables send 0.0.0.0/0 to the one NAT; the public one to the IGW
    nat_routes = {plan.inputs(RT, f"n-private-{i}")["routes"][0]["natGatewayId"] for i in range(2)}
    assert nat_routes == {mock_id(NAT, "n-nat-0")}
    public_route = plan.inputs(RT, "n-public")["routes"][0]
    assert public_route["cidrBlock"] == "0.0.0.0/0"
    assert public_route["gatewayId"] == mock_id("aws:ec2/internetGateway:InternetGateway", "n-igw")
    assert {e["parent"] for e in plan if e["name"] != "n"} == {"n"}


def test_default_security_group_allows_nothing(run) -> None:
    """FSBP EC2.2: AWS creates a VPC's default group allowing all traffic within it and all
    egress; managing it with empty rule lists removes both (aws_default_security_group docs)."""
    plan = run(lambda: Network("n", NetworkArgs()))
    default = plan.inputs("aws:ec2/defaultSecurityGroup:DefaultSecurityGroup")
    assert default["vpcId"] == mock_id("aws:ec2/vpc:Vpc", "n-vpc")
    assert default["ingress"] == []
    assert default["egress"] == []


def test_two_nats_give_each_private_subnet_its_own(run) -> None:
    plan = run(lambda: Network("n", NetworkArgs(nat_gateways=2)))
    assert len(plan.of(NAT)) == 2
    nat_routes = {plan.inputs(RT, f"n-private-{i}")["routes"][0]["natGatewayId"] for i in range(2)}
    assert nat_routes == {mock_id(NAT, "n-nat-0"), mock_id(NAT, "n-nat-1")}


def test_three_azs(run) -> None:
    plan = run(lambda: Network("n", NetworkArgs(az_count=3, nat_gateways=3)))
    assert len(plan.of(SUBNET)) == 6
    assert plan.inputs(SUBNET, "n-private-2")["availabilityZone"] == "eu-west-1c"


def test_existing_vpc_creates_nothing(run) -> None:
    outputs: dict[str, list[str]] = {}

    def program() -> None:
        net = Network(
            "n",
            NetworkArgs(
                existing_vpc_id="vpc-0123456789abcdef0",
                existing_public_subnet_ids=("subnet-a1", "subnet-b1"),
                existing_private_subnet_ids=("subnet-a2", "subnet-b2"),
            ),
        )
        net.private_subnet_ids.apply(lambda ids: outputs.update(private=ids))

    plan = run(program)
    assert [e["type"] for e in plan] == ["rust-on-aws:network:Network"]
    assert outputs == {"private": ["subnet-a2", "subnet-b2"]}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            NetworkArgs(existing_vpc_id="vpc-1", existing_public_subnet_ids=("subnet-a",)),
            "Network n: existing_vpc_id needs at least two public and two private subnet ids, "
            "got 1 and 0",
        ),
        (NetworkArgs(nat_gateways=3), "Network n: nat_gateways must be in 1..az_count (2), got 3"),
        (NetworkArgs(az_count=4), "Network n: az_count must be 2 or 3, got 4"),
    ],
)
def test_guards(run, args: NetworkArgs, message: str) -> None:
    with pytest.raises(ValueError) as info:
        run(lambda: Network("n", args))
    assert str(info.value) == message
