"""plan diff: a pure function of two plans, plus the real runner on a one-Lambda change."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import zipfile
from pathlib import Path
from typing import Any

import pytest

from plan import diff as plan_diff
from plan.diff import diff_plans, render_markdown

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures"
FN = "aws:lambda/function:Function"


def entry(type_: str, name: str, /, **inputs: Any) -> dict[str, Any]:
    return {"type": type_, "name": name, "parent": None, "urn": f"urn::{type_}::{name}",
            "inputs": inputs}  # fmt: skip


def code(sha: str, path: str = "dist/handler.zip") -> dict[str, str]:
    return {"path": path, "sha256": sha}


def test_added_removed_changed_and_unchanged() -> None:
    base = [entry(FN, "a", memorySize=128), entry(FN, "gone"), entry(FN, "same", timeout=3)]
    head = [entry(FN, "a", memorySize=256), entry(FN, "same", timeout=3), entry(FN, "new")]
    diff = diff_plans(base, head)
    assert [(r.kind, r.name) for r in diff.resources] == [
        ("changed", "a"),
        ("added", "new"),
        ("removed", "gone"),
    ]
    assert diff.unchanged == 1
    (changed,) = diff.of_kind("changed")
    assert [(c.path, c.old, c.new, c.replaces) for c in changed.changes] == [
        ("memorySize", 128, 256, False)
    ]


def test_lambda_code_change_shows_both_sha256_and_nothing_else() -> None:
    base = [entry(FN, "h", code=code("a" * 64), handler="bootstrap")]
    head = [
        entry(FN, "h", code=code("b" * 64, path="/tmp/wt/dist/handler.zip"), handler="bootstrap")
    ]
    (r,) = diff_plans(base, head).resources
    assert [(c.path, c.old, c.new) for c in r.changes] == [("code.sha256", "a" * 64, "b" * 64)]
    report = render_markdown(diff_plans(base, head), stack="dev", base="main")
    assert f"`{'a' * 64}`" in report
    assert f"`{'b' * 64}`" in report


def test_same_code_at_another_path_is_no_change() -> None:
    base = [entry(FN, "h", code=code("a" * 64, path="/tmp/base/dist/handler.zip"))]
    head = [entry(FN, "h", code=code("a" * 64))]
    diff = diff_plans(base, head)
    assert diff.resources == ()
    assert "No changes: 1 resources unchanged." in render_markdown(diff, stack="dev", base="x")


@pytest.mark.parametrize(
    ("type_", "key", "old", "new", "replaces"),
    [
        ("aws:rds/instance:Instance", "engine", "postgres", "mysql", True),
        ("aws:rds/instance:Instance", "identifier", "db-a", "db-b", True),
        ("aws:rds/instance:Instance", "instanceClass", "db.t4g.micro", "db.t4g.small", False),
        (FN, "name", "fn-a", "fn-b", True),
        (FN, "memorySize", 128, 256, False),
        ("aws:ec2/securityGroup:SecurityGroup", "vpcId", "vpc-1", "vpc-2", True),
        ("aws:ec2/subnet:Subnet", "cidrBlock", "10.0.0.0/24", "10.0.1.0/24", True),
        ("aws:ec2/subnet:Subnet", "availabilityZone", "eu-west-1a", "eu-west-1b", True),
        ("aws:ecr/repository:Repository", "name", "a", "b", True),
        ("aws:ecs/taskDefinition:TaskDefinition", "cpu", "256", "512", True),
        ("aws:ecr/repository:Repository", "tags", {"a": "1"}, {"a": "2"}, False),
        ("aws:lambda/permission:Permission", "sourceArn", "arn:a", "arn:b", True),
    ],
)
def test_replacements_are_flagged(type_: str, key: str, old: Any, new: Any, replaces: bool) -> None:
    diff = diff_plans([entry(type_, "r", **{key: old})], [entry(type_, "r", **{key: new})])
    (r,) = diff.resources
    assert r.replaces is replaces
    report = render_markdown(diff, stack="dev", base="b")
    assert ("**(replace)**" in report) is replaces


def test_json_documents_diff_by_field_and_computed_stays_computed() -> None:
    policy = {"Statement": [{"Action": ["s3:GetObject"], "Effect": "Allow"}]}
    wider = {"Statement": [{"Action": ["s3:GetObject", "s3:PutObject"], "Effect": "Allow"}]}
    base = [
        entry("aws:iam/rolePolicy:RolePolicy", "p", policy=json.dumps(policy), role="<computed>")
    ]
    head = [
        entry("aws:iam/rolePolicy:RolePolicy", "p", policy=json.dumps(wider), role="<computed>")
    ]
    (r,) = diff_plans(base, head).resources
    assert [c.path for c in r.changes] == ["policy.Statement"]
    assert not r.replaces


def test_report_is_a_sticky_comment_with_a_summary() -> None:
    base = [entry(FN, "a", memorySize=128)]
    head = [entry(FN, "a", memorySize=256), entry(FN, "b")]
    report = render_markdown(diff_plans(base, head), stack="sandbox", base="origin/main")
    assert report.splitlines()[0] == "<!-- rust-on-aws plan-diff sandbox -->"
    assert "**1 to add, 1 to change (0 replaced), 0 to remove**; 0 unchanged." in report
    assert "| `memorySize` | `128` | `256` |" in report


# ---- the real plan runner --------------------------------------------------------------------


def _fixtures_with_new_handler(tmp_path: Path) -> Path:
    """A copy of the fixture artifacts whose handler zip (and so its sha256) differs."""
    copy = tmp_path / "artifacts"
    shutil.copytree(FIXTURES, copy, ignore=shutil.ignore_patterns("*.py", "__pycache__", "server"))
    zip_path = copy / "handler.zip"
    with zipfile.ZipFile(zip_path, "a") as archive:
        archive.comment = b"rebuilt"
    manifest = json.loads((copy / "manifest.json").read_text())
    data = zip_path.read_bytes()
    manifest["functions"]["handler"]["sha256"] = hashlib.sha256(data).hexdigest()
    manifest["functions"]["handler"]["size"] = len(data)
    # the same server build (the image's context) as the base: only the handler zip differs
    for key in ("dir", "binary"):
        manifest["server"][key] = str(FIXTURES / manifest["server"][key])
    (copy / "manifest.json").write_text(json.dumps(manifest))
    return copy / "manifest.json"


def _only_the_handler_changed(diff: plan_diff.PlanDiff, new_manifest: Path) -> None:
    old_sha = json.loads((FIXTURES / "manifest.json").read_text())["functions"]["handler"]["sha256"]
    new_sha = json.loads(new_manifest.read_text())["functions"]["handler"]["sha256"]
    assert old_sha != new_sha
    assert [(r.kind, r.type, r.name) for r in diff.resources] == [
        ("changed", FN, "rust-on-aws-dev-handler")
    ]
    (r,) = diff.resources
    assert [(c.path, c.old, c.new, c.replaces) for c in r.changes] == [
        ("code.sha256", old_sha, new_sha, False)
    ]


def test_one_lambda_zip_change_shows_exactly_that_function(tmp_path: Path) -> None:
    record = pytest.importorskip("plan.record", reason="the plan runner is absent")
    new_manifest = _fixtures_with_new_handler(tmp_path)
    base = record.run_plan("dev", root=ROOT, manifest=FIXTURES / "manifest.json")
    head = record.run_plan("dev", root=ROOT, manifest=new_manifest)
    _only_the_handler_changed(diff_plans(base, head), new_manifest)


def test_cli_plans_base_ref_in_a_worktree(tmp_path: Path) -> None:
    if subprocess.run(["git", "rev-parse", "HEAD:plan/record.py"], cwd=ROOT,
                      capture_output=True, check=False).returncode != 0:  # fmt: skip
        pytest.skip("HEAD has no committed plan runner to plan in a worktree")
    program = [
        "__main__.py",
        "components",
        "plan",
        "Pulumi.yaml",
        "Pulumi.dev.yaml",
        "app/routes.json",
    ]
    if subprocess.run(["git", "status", "--porcelain", "--", *program], cwd=ROOT,
                      capture_output=True, text=True, check=True).stdout.strip():  # fmt: skip
        # The premise (HEAD's program is the work tree's) holds in CI's fresh clone.
        pytest.skip("the program has uncommitted changes: commit them to compare HEAD with itself")
    new_manifest = _fixtures_with_new_handler(tmp_path)
    out = tmp_path / "plan-diff-dev.md"
    status = plan_diff.main(
        ["--stack", "dev", "--base", "HEAD", "--manifest", str(new_manifest),
         "--base-manifest", str(FIXTURES / "manifest.json"), "--out", str(out),
         "--head-plan", str(_plan_file(tmp_path, new_manifest))]
    )  # fmt: skip
    assert status == 0
    report = out.read_text()
    assert "**0 to add, 1 to change (0 replaced), 0 to remove**" in report
    assert "`rust-on-aws-dev-handler`" in report
    assert "`code.sha256`" in report
    worktrees = subprocess.run(["git", "worktree", "list"], cwd=ROOT, capture_output=True,
                               text=True, check=True).stdout  # fmt: skip
    assert "plan-diff-" not in worktrees


def _plan_file(tmp_path: Path, manifest: Path) -> Path:
    record = pytest.importorskip("plan.record", reason="the plan runner is absent")
    path = tmp_path / "head.json"
    record.write_plan(record.run_plan("dev", root=ROOT, manifest=manifest), path)
    return path


def test_cli_names_the_command_when_the_manifest_is_missing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status = plan_diff.main(["--stack", "dev", "--manifest", str(tmp_path / "nope.json")])
    assert status == 1
    assert "run `make build` first" in capsys.readouterr().err


def test_cli_reports_a_bad_ref(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    manifest = FIXTURES / "manifest.json"
    head = _plan_file(tmp_path, manifest)
    status = plan_diff.main(
        ["--stack", "dev", "--base", "no-such-ref-xyz", "--manifest", str(manifest),
         "--head-plan", str(head), "--out", str(tmp_path / "x.md")]
    )  # fmt: skip
    assert status == 1
    err = capsys.readouterr().err
    assert "no-such-ref-xyz" in err and "exited" in err, err


def test_a_resource_kept_under_a_new_name_is_no_add_and_no_remove() -> None:
    """Pulumi matches deployed state by alias before it compares inputs
    (https://www.pulumi.com/docs/iac/concepts/options/aliases/): a renamed resource whose
    alias names the old URN is the same resource, updated in place or not at all."""
    rule = "aws:cloudwatch/eventRule:EventRule"
    old = entry(rule, "ev-ecr-push", description="old")
    kept = {**entry(rule, "ev-event", description="old"), "aliases": [old["urn"]]}
    diff = diff_plans([old], [kept])
    assert diff.resources == ()
    assert (diff.unchanged, diff.renamed) == (1, (("ev-ecr-push", "ev-event"),))
    assert "Kept under a new name (aliases): `ev-ecr-push` → `ev-event`" in render_markdown(
        diff, stack="dev", base="main"
    )
    updated = {**kept, "inputs": {"description": "new"}}
    [changed] = diff_plans([old], [updated]).resources
    assert (changed.kind, changed.name, changed.was) == ("changed", "ev-event", "ev-ecr-push")
    assert "(`aws:cloudwatch/eventRule:EventRule`, was `ev-ecr-push`)" in render_markdown(
        diff_plans([old], [updated]), stack="dev", base="main"
    )
    # Without the alias (or with one naming nothing deployed) it is a replacement.
    plain = entry(rule, "ev-event", description="old")
    stray = {**plain, "aliases": ["urn::elsewhere"]}
    for head in (plain, stray):
        assert [(r.kind, r.name) for r in diff_plans([old], [head]).resources] == [
            ("added", "ev-event"),
            ("removed", "ev-ecr-push"),
        ]
