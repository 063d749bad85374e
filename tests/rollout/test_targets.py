"""rollout/targets.py and the command's input errors: every guard has an input that trips it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from rollout.targets import RolloutError, load_outputs, read_plan

ROOT = Path(__file__).resolve().parents[2]
GOOD: dict[str, Any] = {
    "application": "rust-on-aws-dev-deploy",
    "deployment_config": "rust-on-aws-dev-deploy-all-at-once",
    "strategy": "all-at-once",
    "shift_minutes": 0,
    "timeout_minutes": 15,
    "functions": {
        "handler": {
            "function_name": "rust-on-aws-dev-handler",
            "alias": "live",
            "version": "7",
            "deployment_group": "rust-on-aws-dev-handler",
        }
    },
}


def with_(path: str, value: Any) -> dict[str, Any]:
    """GOOD with the value at a dotted path replaced (None removes it)."""
    data = json.loads(json.dumps(GOOD))
    *parents, last = path.split(".")
    node = data
    for key in parents:
        node = node[key]
    if value is None:
        node.pop(last)
    else:
        node[last] = value
    return data


def test_a_plan_from_the_outputs_or_from_a_step_output_string() -> None:
    plan = read_plan({"rollout": GOOD, "api_url": "https://x"})
    assert [t.function_name for t in plan.targets] == ["rust-on-aws-dev-handler"]
    assert plan.targets[0].version == "7"
    # GitHub step outputs carry objects as JSON strings
    assert read_plan({"rollout": json.dumps(GOOD)}) == plan
    assert read_plan(GOOD) == plan


@pytest.mark.parametrize(
    ("outputs", "expected"),
    [
        ({"api_url": "x"}, "rollout output: the stack has no `rollout` object, got NoneType"),
        ({"rollout": "{nope"}, "must be a JSON object, got a string that is not JSON"),
        ({"rollout": with_("functions", {})}, "functions must map names to deployments, got {}"),
        ({"rollout": with_("timeout_minutes", 0)}, "must be a positive integer, got 0"),
        ({"rollout": with_("timeout_minutes", True)}, "timeout_minutes must be a positive integer"),
        ({"rollout": with_("functions.handler", "x")}, "functions.handler must be an object"),
        ({"rollout": with_("functions.handler.version", "$LATEST")},
         "functions.handler.version must be a published version number, got '$LATEST'"),
        ({"rollout": with_("functions.handler.version", "0")}, "got '0'"),
        ({"rollout": with_("functions.handler.alias", None)},
         "functions.handler.alias must be a non-empty string, got None"),
        ({"rollout": with_("application", "")}, "rollout.application must be a non-empty string"),
    ],
)  # fmt: skip
def test_unusable_outputs_are_refused_in_one_line(outputs: dict[str, Any], expected: str) -> None:
    with pytest.raises(RolloutError) as info:
        read_plan(outputs)
    message = str(info.value)
    assert expected in message
    assert "\n" not in message
    assert "; fix: " in message


def test_outputs_files_that_cannot_be_used(tmp_path: Path) -> None:
    with pytest.raises(RolloutError, match="cannot be read"):
        load_outputs(tmp_path / "missing.json", None)
    bad = tmp_path / "bad.json"
    bad.write_text("not json")
    with pytest.raises(RolloutError, match="got invalid JSON"):
        load_outputs(bad, None)
    bad.write_text("[1]")
    with pytest.raises(RolloutError, match="must be a JSON object of outputs, got list"):
        load_outputs(bad, None)
    with pytest.raises(RolloutError, match="got neither --outputs nor --stack"):
        load_outputs(None, None)


def test_the_pulumi_cli_missing_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(RolloutError, match="pulumi: not found on PATH"):
        load_outputs(None, "dev")


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "rollout", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_the_command_exits_2_on_input_errors(tmp_path: Path) -> None:
    outputs = tmp_path / "outputs.json"
    outputs.write_text(json.dumps({"api_url": "x"}))
    done = _cli("--outputs", str(outputs))
    assert done.returncode == 2
    assert done.stderr.startswith("rollout: rollout output: the stack has no `rollout` object")
    outputs.write_text(json.dumps({"rollout": GOOD}))
    done = _cli("--outputs", str(outputs), "--only", "nope")
    assert done.returncode == 2
    assert "--only names functions the stack does not deploy through CodeDeploy, got ['nope']" in (
        done.stderr
    )
    assert _cli().returncode == 2  # neither --stack nor --outputs
