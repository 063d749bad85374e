"""plan/record.py and plan/mocks.py: errors surface, values are made JSON-ready."""

from __future__ import annotations

from pathlib import Path

import pulumi
import pulumi_aws as aws
import pytest
from pulumi.output import Unknown
from pulumi.runtime import rpc

from plan.mocks import mock_id
from plan.record import COMPUTED, SECRET, PlanError, plain, record

ROOT = Path(__file__).resolve().parents[2]


def test_a_failing_apply_fails_the_run() -> None:
    def program() -> None:
        queue = aws.sqs.Queue("q")
        queue.arn.apply(lambda _: 1 / 0)

    with pytest.raises(ZeroDivisionError):
        record(program, root=ROOT)


def test_an_unmocked_invoke_fails_loudly() -> None:
    with pytest.raises(NotImplementedError, match="invoke aws:index/getPartition:getPartition"):
        record(lambda: aws.get_partition_output().partition.apply(str), root=ROOT)


def test_mocked_invokes_return_realistic_values() -> None:
    seen: dict[str, object] = {}

    def program() -> None:
        aws.get_region_output().region.apply(lambda r: seen.update(region=r))
        aws.get_caller_identity_output().account_id.apply(lambda a: seen.update(account=a))
        aws.get_availability_zones_output().names.apply(lambda n: seen.update(zones=n))

    record(program, root=ROOT, config={"aws:region": "ap-southeast-2"})
    assert seen == {
        "region": "ap-southeast-2",
        "account": "123456789012",
        "zones": ["ap-southeast-2a", "ap-southeast-2b", "ap-southeast-2c"],
    }


def test_plain_values(tmp_path: Path) -> None:
    archive = ROOT / "tests" / "fixtures" / "timer.zip"
    assert plain(Unknown(), ROOT) == COMPUTED
    assert plain(rpc.UNKNOWN, ROOT) == COMPUTED
    assert plain(rpc.wrap_rpc_secret("hunter2"), ROOT) == SECRET
    value = plain({"code": pulumi.FileArchive(str(archive)), "n": 2.0, "l": (1, "a")}, ROOT)
    assert value["code"]["path"] == "tests/fixtures/timer.zip"
    assert len(value["code"]["sha256"]) == 64
    assert value["n"] == 2
    assert isinstance(value["n"], int)
    assert value["l"] == [1, "a"]
    with pytest.raises(PlanError, match="is not a file; hand FileArchive the zip file"):
        plain(pulumi.FileArchive(str(tmp_path)), ROOT)


def test_aliases_are_recorded_as_the_urns_the_engine_derives() -> None:
    """A URN is `urn:pulumi:<stack>::<project>::<parent types>$<type>::<name>`
    (https://www.pulumi.com/docs/iac/concepts/resources/names/#urns); an alias spec leaves
    unset what stays the same. A renamed child keeps its parent chain; a provider's type alias
    (pulumi_aws names TargetGroup's old `elasticloadbalancingv2` token itself) keeps the name."""

    class Box(pulumi.ComponentResource):
        def __init__(self, name: str) -> None:
            super().__init__("test:index:Box", name, None, None)
            queue = aws.sqs.Queue(
                "new-q",
                opts=pulumi.ResourceOptions(parent=self, aliases=[pulumi.Alias(name="old-q")]),
            )
            aws.sqs.QueuePolicy(
                "p", queue_url=queue.id, policy="{}", opts=pulumi.ResourceOptions(parent=self)
            )
            aws.lb.TargetGroup(
                "tg", port=80, protocol="HTTP", opts=pulumi.ResourceOptions(parent=self)
            )
            self.register_outputs({})

    entries = record(lambda: Box("box"), root=ROOT)
    by_name = {e["name"]: e for e in entries}
    stack, project = by_name["box"]["urn"].removeprefix("urn:pulumi:").split("::")[:2]
    chain = "test:index:Box$"
    assert by_name["new-q"]["aliases"] == [
        f"urn:pulumi:{stack}::{project}::{chain}aws:sqs/queue:Queue::old-q"
    ]
    old_tg = "aws:elasticloadbalancingv2/targetGroup:TargetGroup"
    assert f"urn:pulumi:{stack}::{project}::{chain}{old_tg}::tg" in by_name["tg"]["aliases"]
    # The kept queue is the deployed one: its id is the one the old name was given.
    queue = "aws:sqs/queue:Queue"
    assert by_name["p"]["inputs"]["queueUrl"] == mock_id(queue, "old-q") != mock_id(queue, "new-q")
