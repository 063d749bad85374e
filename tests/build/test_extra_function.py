"""End to end: a fifth function is one crate and one workspace member, and nothing else.

A copy of app/ gets the crate tests/fixtures/reporter/ (a schedule, no database) as a member,
and Cargo.lock the new crate (`cargo update --workspace`): the only changes. Then, with no edit
to build/, components/, __main__.py, the stack files or the runtime tests:

1. `python -m build all` discovers it from its Cargo.toml, compiles, audits and zips it, and
   records its declaration in the manifest;
2. the plan of that manifest, against the plan of this checkout's own build, adds exactly the
   reporter's resources (its function, rule, alarms, deployment group; the shared DLQ,
   dashboard and CodeDeploy role take it in), and changes no other function's code: the
   builds are byte-reproducible and the new crate changes no other binary;
3. the runtime tests' generic check (tests/runtime/test_declared.py), pointed at that workspace
   and its build, runs the reporter under the emulator with the rest;
4. in the minimal Lambda root, its answer carries the title its declaration sets, with
   `${stack}` resolved: the declared environment reaches the process.

The workspace's own crates compile again (their path changed); the dependencies come from this
checkout's cargo target folder.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from build.policy import load_policy
from local.events import scheduled_event
from local.sandbox import (
    SANDBOX_UID,
    Jail,
    RieFunction,
    build_root,
    install_rie,
    lambda_environment,
    rie_path,
    unpack_zip,
)
from plan.diff import diff_plans
from plan.record import run_plan
from plan.view import Plan

ROOT = Path(__file__).resolve().parents[2]
TARGET = Path(os.environ.get("CARGO_TARGET_DIR") or ROOT / "app" / "target")
REPORTER = ROOT / "tests" / "fixtures" / "reporter"

pytestmark = [
    pytest.mark.cargo,
    pytest.mark.rie,
    pytest.mark.skipif(shutil.which("cargo") is None, reason="cargo is not installed"),
]


def _run(argv: list[str], *, cwd: Path, env: dict[str, str] | None = None) -> str:
    proc = subprocess.run(
        argv, cwd=cwd, env=env or dict(os.environ), capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, f"{argv} exited {proc.returncode}: {proc.stderr[-3000:]}"
    return proc.stdout


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """app/ plus the reporter crate: one member line and Cargo.lock, nothing else."""
    app = tmp_path_factory.mktemp("extra") / "app"
    shutil.copytree(ROOT / "app", app, ignore=shutil.ignore_patterns("target"))
    shutil.copytree(REPORTER, app / "reporter")
    manifest = app / "Cargo.toml"
    text = manifest.read_text()
    members = re.search(r"members\s*=\s*\[", text)
    assert members, f"{manifest} has no members = [ ... ] list"
    manifest.write_text(text[: members.end()] + '"reporter", ' + text[members.end() :])
    env = {**os.environ, "CARGO_TARGET_DIR": str(TARGET)}
    _run(["cargo", "update", "--workspace", "--offline"], cwd=app, env=env)
    return app


@pytest.fixture(scope="module")
def built(workspace: Path) -> Path:
    """`python -m build all` of the copy (the repository's build/, unchanged)."""
    dist = workspace.parent / "dist"
    env = {**os.environ, "CARGO_TARGET_DIR": str(TARGET)}
    _run(
        [sys.executable, "-m", "build", "all", "--app", str(workspace), "--dist", str(dist)],
        cwd=ROOT,
        env=env,
    )
    return dist


@pytest.fixture(scope="module")
def own_build(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """This checkout's app/, built the same way (reused from the cache when unchanged)."""
    dist = tmp_path_factory.mktemp("own") / "dist"
    env = {**os.environ, "CARGO_TARGET_DIR": str(TARGET)}
    _run([sys.executable, "-m", "build", "all", "--dist", str(dist)], cwd=ROOT, env=env)
    return dist


def test_the_build_discovers_and_records_it(built: Path) -> None:
    manifest = json.loads((built / "manifest.json").read_text())
    reporter = manifest["functions"]["reporter"]
    assert reporter["declaration"] == {
        "trigger": "schedule",
        "schedule": "rate(1 day)",
        "memory": 128,
        "timeout": 30,
        "database": False,
        "vpc": False,
        "env": {"REPORT_TITLE": "daily fleet report (${stack})"},
    }
    with zipfile.ZipFile(built / reporter["zip"]) as archive:
        names = archive.namelist()
        mode = archive.getinfo("bootstrap").external_attr >> 16
    assert "bootstrap" in names
    assert mode & 0o111, oct(mode)
    # No database: nothing links libpq, so nothing is bundled for it.
    assert [lib["soname"] for lib in reporter["bundled"]] == []


def test_the_plan_adds_exactly_its_resources(built: Path, own_build: Path) -> None:
    base = run_plan("dev", root=ROOT, manifest=own_build / "manifest.json")
    head = run_plan("dev", root=ROOT, manifest=built / "manifest.json")
    diff = diff_plans(base, head)
    assert diff.of_kind("removed") == []
    assert sorted({r.name for r in diff.of_kind("added")}) == sorted(
        {r.name for r in diff.of_kind("added") if "-reporter" in r.name}
    )
    assert diff.of_kind("added")
    # Every other function's code is the same bytes: no code change shows in the preview.
    changed = {r.name: r for r in diff.of_kind("changed")}
    # Shared resources that take the new function in: the DLQ's policy (its rule), the
    # dashboard (its graphs), CodeDeploy's role (its alias). No function's code.
    shared = {
        "rust-on-aws-dev-events-dlq-policy",
        "rust-on-aws-dev-monitoring-dashboard",
        "rust-on-aws-dev-deploy-policy",
    }
    assert set(changed) - {"rust-on-aws-dev-server-image"} == shared
    assert not any(r.replaces for r in changed.values())
    if "rust-on-aws-dev-server-image" in changed:
        # Only where the two builds were written (two temporary folders); the tag is the
        # image's content, the same.
        assert [c.path for c in changed["rust-on-aws-dev-server-image"].changes] == [
            "build.context"
        ]
    own = json.loads((own_build / "manifest.json").read_text())
    new = json.loads((built / "manifest.json").read_text())
    assert {n: f["sha256"] for n, f in own["functions"].items()} == {
        n: f["sha256"] for n, f in new["functions"].items() if n != "reporter"
    }
    assert own["server"]["sha256"] == new["server"]["sha256"]
    plan = Plan(head)
    [rule] = [r for r in plan.of("aws:cloudwatch/eventRule:EventRule") if "reporter" in r["name"]]
    assert rule["inputs"]["scheduleExpression"] == "rate(1 day)"


def test_the_runtime_tests_run_it_unchanged(workspace: Path, built: Path) -> None:
    env = {**os.environ, "RUNTIME_APP": str(workspace), "RUNTIME_DIST": str(built)}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
            "-v",
            "tests/runtime/test_declared.py",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout[-4000:]
    assert "test_every_declared_function_answers_its_trigger[reporter] PASSED" in proc.stdout
    metrics = json.loads((built / "runtime-metrics.json").read_text())
    assert metrics["functions"]["reporter"]["init_duration_ms"] is not None


def test_its_declared_environment_reaches_it(built: Path, tmp_path: Path) -> None:
    rie = rie_path()
    if not rie.is_file():
        pytest.fail(f"{rie} is missing: run `make setup`", pytrace=False)
    manifest = json.loads((built / "manifest.json").read_text())
    policy = load_policy(manifest["runtime"])
    root = tmp_path / "root"
    build_root(root, policy, arch=manifest["architecture"])
    install_rie(rie, root)
    unpack_zip(built / manifest["functions"]["reporter"]["zip"], root / "var" / "task")
    # The program resolves ${stack} to the stack's name (the plan test above sees it for dev).
    [entry] = [
        e
        for e in run_plan("sandbox", root=ROOT, manifest=built / "manifest.json")
        if e["type"] == "aws:lambda/function:Function" and e["name"].endswith("-reporter")
    ]
    variables = entry["inputs"]["environment"]["variables"]
    env = lambda_environment(
        policy, function_name="rust-on-aws-sandbox-reporter", region="eu-west-1", extra=variables
    )
    with RieFunction(Jail(root, SANDBOX_UID, SANDBOX_UID), env, tmp_path / "rie.log") as fn:
        result = fn.invoke(scheduled_event("daily", region="eu-west-1"))
    assert not result.is_function_error, result.body
    answer = result.json()
    assert answer["title"] == "daily fleet report (sandbox)"
    assert answer["trigger"] == "Scheduled Event"
