"""Ephemeral stack through the Pulumi Automation API: `up`, smoke test, `destroy`.

Marker `aws`: needs the Pulumi CLI, AWS credentials, a built dist/manifest.json and
SMOKE_TOKEN; skipped with the missing piece named otherwise. Run it deliberately:

    make build && SMOKE_TOKEN=... .venv/bin/python -m pytest -m aws tests/integration -s

It creates a stack `it-<random>` from the dev stack's configuration and always destroys and
removes it, even when `up` or the smoke test fails.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.aws


def _missing() -> str | None:
    if shutil.which("pulumi") is None:
        return "the pulumi CLI is not on PATH (https://www.pulumi.com/docs/install/)"
    if not (os.environ.get("AWS_ACCESS_KEY_ID") or os.environ.get("AWS_PROFILE")
            or os.environ.get("AWS_WEB_IDENTITY_TOKEN_FILE")):  # fmt: skip
        return "no AWS credentials in the environment (AWS_PROFILE, keys or OIDC)"
    if not (ROOT / "dist" / "manifest.json").is_file():
        return "dist/manifest.json is missing: run `make build` first"
    if not os.environ.get("SMOKE_TOKEN"):
        return "SMOKE_TOKEN (a token with every scope) is not set"
    return None


def test_ephemeral_stack_up_smoke_destroy(tmp_path: Path) -> None:
    reason = _missing()
    if reason:
        pytest.skip(reason)
    from pulumi import automation as auto  # noqa: PLC0415 - only when it can run

    name = f"it-{uuid.uuid4().hex[:8]}"
    stack = auto.create_stack(stack_name=name, work_dir=str(ROOT))
    try:
        dev = auto.select_stack(stack_name="dev", work_dir=str(ROOT)).get_all_config()
        stack.set_all_config(dev)
        result = stack.up(on_output=print)
        assert result.summary.result == "succeeded"
        outputs = tmp_path / "outputs.json"
        outputs.write_text(json.dumps({k: v.value for k, v in result.outputs.items()}))
        smoke = subprocess.run(
            [sys.executable, str(ROOT / "tests" / "smoke" / "smoke.py"), "--outputs", str(outputs)],
            check=False,
        )
        assert smoke.returncode == 0, "the smoke test failed against the ephemeral stack"
    finally:
        stack.destroy(on_output=print)
        stack.workspace.remove_stack(name)
