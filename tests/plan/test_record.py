"""plan/record.py and plan/mocks.py: errors surface, values are made JSON-ready."""

from __future__ import annotations

from pathlib import Path

import pulumi
import pulumi_aws as aws
import pytest
from pulumi.output import Unknown
from pulumi.runtime import rpc

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
