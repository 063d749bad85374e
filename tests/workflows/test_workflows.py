"""The workflows keep their guarantees: pinned actions, least permissions, one deploy at a time."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
ACTIONS = sorted((ROOT / ".github" / "actions").glob("*/action.yml"))
PINNED = re.compile(r"^\s*-?\s*uses:\s*([\w.-]+/[\w./-]+)@([0-9a-f]{40}) # v\d[\w.]*\s*$")


def _load(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def test_the_workflows_exist() -> None:
    assert {p.name for p in WORKFLOWS} >= {"preview.yml", "deploy-sandbox.yml", "drift.yml"}


@pytest.mark.parametrize("path", WORKFLOWS + ACTIONS, ids=lambda p: p.name)
def test_third_party_actions_are_pinned_to_a_commit_with_its_version(path: Path) -> None:
    for line in path.read_text(encoding="utf-8").splitlines():
        if "uses:" not in line or "uses: ./" in line:
            continue
        assert PINNED.match(line), f"{path.name}: not pinned to a full SHA + '# vX': {line.strip()}"


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_least_permissions(path: Path) -> None:
    workflow = _load(path)
    assert workflow.get("permissions") == {}, f"{path.name}: top-level permissions must be {{}}"
    for name, job in workflow["jobs"].items():
        assert "permissions" in job, f"{path.name}: job {name} declares no permissions"
        assert "write-all" not in str(job["permissions"])
        if job["permissions"].get("id-token") == "write":
            steps = " ".join(str(s.get("uses", "")) for s in job["steps"])
            assert "configure-aws-credentials" in steps, f"{name}: id-token without AWS OIDC"


def test_previews_use_oidc_and_skip_forks() -> None:
    job = _load(ROOT / ".github/workflows/preview.yml")["jobs"]["cloud-preview"]
    assert "head.repo.full_name == github.repository" in job["if"]
    text = (ROOT / ".github/workflows/preview.yml").read_text()
    assert "aws-access-key-id" not in text
    assert "role-to-assume" in text


def test_one_deployment_per_stack_and_the_same_bytes() -> None:
    for name in ("deploy-sandbox.yml", "promote.yml"):
        workflow = _load(ROOT / ".github/workflows" / name)
        deploy = workflow["jobs"]["deploy"]
        assert deploy["concurrency"]["cancel-in-progress"] is False
        runs = " ".join(str(s.get("run", "")) for s in deploy["steps"])
        assert "scripts/verify_manifest.py" in runs
        assert "tests/smoke/smoke.py" in runs
        assert "make build" not in runs, f"{name} must deploy the artifact, not rebuild"


def test_drift_is_a_read_only_refresh_preview_that_fails_on_changes() -> None:
    workflow = _load(ROOT / ".github/workflows/drift.yml")
    raw: dict[Any, Any] = dict(workflow)
    triggers = raw.get("on", raw.get(True))  # YAML 1.1 reads the key `on` as True
    assert isinstance(triggers, dict)
    assert "schedule" in triggers
    steps = workflow["jobs"]["drift"]["steps"]
    pulumi = next(
        s
        for s in steps
        if str(s.get("uses", "")).startswith("pulumi/actions@") and "command" in s.get("with", {})
    )
    assert pulumi["with"]["command"] == "preview"
    assert pulumi["with"]["refresh"] is True
    assert pulumi["with"]["expect-no-changes"] is True
    assert set(workflow["jobs"]["drift"]["strategy"]["matrix"]["stack"]) == {"sandbox", "prod"}


def _runs(steps: list[dict[str, Any]]) -> list[str]:
    return [str(s.get("run", "")) for s in steps]


def test_deploys_record_the_commit_and_run_each_stack_runs() -> None:
    for name in ("deploy-sandbox.yml", "promote.yml"):
        steps = _load(ROOT / ".github/workflows" / name)["jobs"]["deploy"]["steps"]
        runs = " ".join(_runs(steps))
        assert "pulumi stack tag set rust-on-aws:source-commit" in runs, name
        assert "pulumi stack tag set rust-on-aws:artifact-run" in runs, name
        up = next(i for i, s in enumerate(steps) if s.get("id") == "up")
        record = next(i for i, r in enumerate(_runs(steps)) if "source-commit" in r)
        assert record > up, f"{name}: record after a successful up"


def test_drift_previews_the_deployed_commit_with_its_own_bytes() -> None:
    """prod runs an older promoted commit: the drift check must not preview main's head."""
    steps = _load(ROOT / ".github/workflows/drift.yml")["jobs"]["drift"]["steps"]
    runs = _runs(steps)
    position = {
        "checkout": next(
            i for i, r in enumerate(runs) if 'git checkout --quiet --detach "$commit"' in r
        ),
        "verify": next(i for i, r in enumerate(runs) if "verify_manifest.py --digest" in r),
        "preview": next(
            i for i, s in enumerate(steps) if s.get("with", {}).get("command") == "preview"
        ),
    }
    assert "rust-on-aws:source-commit" in runs[position["checkout"]]
    assert "pulumi stack output artifact_digest" in runs[position["checkout"]]
    assert position["checkout"] < position["verify"] < position["preview"]
    download = next(s for s in steps if "download-artifact" in str(s.get("uses", "")))
    assert download["with"]["name"] == "dist-${{ steps.deployed.outputs.commit }}"
    assert "make build" not in runs[: position["checkout"]]


def test_pull_request_previews_build_the_base_artifacts() -> None:
    """The plan diff plans the base with its own artifacts (plan/artifacts.py), cached by its
    source key, so code changes show; it never passes the head's manifest as the base's."""
    steps = _load(ROOT / ".github/workflows/preview.yml")["jobs"]["plan-diff"]["steps"]
    text = " ".join(_runs(steps))
    assert "--base-manifest" not in text
    assert "python -m plan.artifacts key" in text
    cache = next(s for s in steps if str(s.get("uses", "")).startswith("actions/cache@"))
    assert cache["with"]["path"] == ".git/rust-on-aws/artifacts"
    assert "steps.base.outputs.key" in cache["with"]["key"]


@pytest.mark.parametrize("name", ["deploy-sandbox.yml", "promote.yml"])
def test_lambda_rollouts_run_after_up_and_before_the_smoke_test(name: str) -> None:
    """`up` publishes the versions (after the migration); `python -m rollout` moves the aliases
    through CodeDeploy; the smoke test then sees the new code, and a rollback fails the job."""
    steps = _load(ROOT / ".github/workflows" / name)["jobs"]["deploy"]["steps"]
    up = next(i for i, s in enumerate(steps) if s.get("id") == "up")
    rollout = [i for i, s in enumerate(steps) if "python -m rollout" in str(s.get("run", ""))]
    smoke = next(i for i, s in enumerate(steps) if "tests/smoke/smoke.py" in str(s.get("run", "")))
    assert len(rollout) == 1 and up < rollout[0] < smoke
    step = steps[rollout[0]]
    stack = steps[up]["with"]["stack-name"]
    assert step["run"].endswith("--stack sandbox" if stack == "sandbox" else '--stack "$STACK"')
    if stack != "sandbox":
        assert step["env"]["STACK"] == stack
    assert "continue-on-error" not in step
