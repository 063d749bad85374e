"""__main__.py end to end under mocks: exports, and errors before any resource."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from pathlib import Path

import pytest

from components.manifest import ManifestError
from components.routes import RouteError
from components.settings import ConfigError
from plan.mocks import RecordingMonitor
from plan.record import run_plan

ROOT = Path(__file__).resolve().parent.parent
MANIFEST = ROOT / "tests" / "fixtures" / "manifest.json"
NS = "rust-on-aws:"


def test_exports_exactly_the_ten_outputs() -> None:
    monitor = RecordingMonitor()
    run_plan("dev", root=ROOT, manifest=MANIFEST, monitor=monitor)
    exports = monitor.exports
    assert sorted(exports) == [
        "alarm_topic_arn",
        "api_url",
        "artifact_digest",
        "dashboard_url",
        "database_endpoint",
        "ecr_repository_url",
        "function_names",
        "rollout",
        "security_group_ids",
        "service_url",
    ]
    # for a network or database of one's own: the groups of everything that reaches it
    assert sorted(exports["security_group_ids"]) == [
        "authorizer",
        "event",
        "handler",
        "migrate",
        "server",
        "timer",
    ]
    assert all(v.startswith("sg-") for v in exports["security_group_ids"].values())
    # both entry points on their TLS custom domains (Pulumi.dev.yaml)
    assert exports["api_url"] == "https://api.dev.fleet.example.com/"
    assert exports["service_url"] == "https://app.dev.fleet.example.com"
    assert exports["function_names"] == {
        n: f"rust-on-aws-dev-{n}" for n in ("authorizer", "handler", "event", "timer")
    }
    assert exports["ecr_repository_url"].startswith("123456789012.dkr.ecr.eu-west-1.amazonaws.com/")
    assert exports["database_endpoint"].endswith(".rds.amazonaws.com:5432")
    # the digest of the artifacts planned with: what the drift check verifies its bytes against
    fixture = json.loads(MANIFEST.read_text())
    body = {
        "functions": {n: e["sha256"] for n, e in sorted(fixture["functions"].items())},
        "server": fixture["server"]["sha256"],
    }
    text = json.dumps(body, sort_keys=True, separators=(",", ":"))
    assert exports["artifact_digest"] == hashlib.sha256(text.encode()).hexdigest()
    # SNS topic ARN: arn:aws:sns:<region>:<account>:<topic name>
    # (https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazonsns.html)
    assert re.fullmatch(
        r"arn:aws:sns:eu-west-1:\d{12}:rust-on-aws-dev-monitoring-alarms",
        exports["alarm_topic_arn"],
    )
    assert exports["dashboard_url"] == (
        "https://eu-west-1.console.aws.amazon.com/cloudwatch/home?region=eu-west-1"
        "#dashboards/dashboard/rust-on-aws-dev-monitoring"
    )
    # what `python -m rollout` reads (docs/contracts.md section 7): the four runtime
    # functions, each with its own deployment group; migrate moves with `pulumi up`
    rollout = exports["rollout"]
    assert rollout["strategy"] == "all-at-once"
    assert set(rollout["functions"]) == {"authorizer", "handler", "event", "timer"}
    for key, entry in rollout["functions"].items():
        assert entry["function_name"] == f"rust-on-aws-dev-{key}"
        assert entry["deployment_group"] == entry["function_name"]
        assert entry["alias"] == "live"


@pytest.mark.parametrize(
    ("overrides", "key"),
    [
        ({NS + "environment": None}, "environment"),
        ({NS + "function.handler.memory": "huge"}, "function.handler.memory"),
        ({NS + "function.timer.schedule": "rate(2 hour)"}, "function.timer.schedule"),
        ({NS + "function.handler.timeout": 30}, "function.handler.timeout"),
        ({NS + "function.nobody.memory": 256}, "function.nobody.memory"),
        ({NS + "architecture": "sparc"}, "architecture"),
        ({NS + "logRetentionDays": 2}, "logRetentionDays"),
        ({NS + "natGateways": 3}, "natGateways"),
        ({NS + "environment": "production"}, "dbDeletionProtection"),
        ({NS + "scheduleExpresion": "rate(1 hour)"}, "scheduleExpresion"),
    ],
)
def test_bad_config_stops_before_any_resource(overrides: dict, key: str) -> None:
    monitor = RecordingMonitor()
    with pytest.raises(ConfigError) as info:
        run_plan("dev", root=ROOT, manifest=MANIFEST, overrides=overrides, monitor=monitor)
    assert any(e.startswith(f"{NS}{key}: ") for e in info.value.errors)
    assert monitor.registrations == []


def test_external_database_and_existing_vpc_stack() -> None:
    overrides = {
        NS + "vpcMode": "existing",
        NS + "existingVpcId": "vpc-0123456789abcdef0",
        NS + "existingPublicSubnetIds": ["subnet-0aaa1111", "subnet-0bbb2222"],
        NS + "existingPrivateSubnetIds": ["subnet-0ccc3333", "subnet-0ddd4444"],
        NS + "databaseMode": "external",
        NS + "externalDbHost": "pg.example.internal",
        NS + "externalDbSecretArn": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:pg-x",
    }
    entries = run_plan("dev", root=ROOT, manifest=MANIFEST, overrides=overrides)
    types = {e["type"] for e in entries}
    assert "aws:ec2/vpc:Vpc" not in types
    assert "aws:rds/instance:Instance" not in types
    handler = next(e for e in entries if e["name"] == "rust-on-aws-dev-handler" and e["custom"])
    env = handler["inputs"]["environment"]["variables"]
    assert env["DB_HOST"] == "pg.example.internal"
    # the runtime reads the runtime role's secret; only the migration reads the given one
    assert env["DB_SECRET_ARN"] != overrides[NS + "externalDbSecretArn"]
    migrate = next(e for e in entries if e["name"] == "rust-on-aws-dev-migrate" and e["custom"])
    menv = migrate["inputs"]["environment"]["variables"]
    assert menv["DB_MASTER_SECRET_ARN"] == overrides[NS + "externalDbSecretArn"]
    assert menv["DB_APP_SECRET_ARN"] == env["DB_SECRET_ARN"]
    assert handler["inputs"]["vpcConfig"]["subnetIds"] == ["subnet-0ccc3333", "subnet-0ddd4444"]


@pytest.fixture
def dist(tmp_path: Path) -> Path:
    shutil.copytree(MANIFEST.parent, tmp_path / "dist", ignore=shutil.ignore_patterns("*.py"))
    return tmp_path / "dist"


def test_stale_zip_stops_before_any_resource(dist: Path) -> None:
    (dist / "timer.zip").write_bytes(b"changed after the build")
    monitor = RecordingMonitor()
    with pytest.raises(ManifestError, match=r"timer zip .* is stale: .*; run `make build`$"):
        run_plan("dev", root=ROOT, manifest=dist / "manifest.json", monitor=monitor)
    assert monitor.registrations == []


def test_architecture_mismatch_stops_before_any_resource(dist: Path) -> None:
    monitor = RecordingMonitor()
    with pytest.raises(ManifestError, match=r"architecture 'x86_64' differs .* 'arm64'"):
        run_plan(
            "dev",
            root=ROOT,
            manifest=dist / "manifest.json",
            overrides={NS + "architecture": "arm64"},
            monitor=monitor,
        )
    assert monitor.registrations == []


def test_arm64_build_gives_arm64_functions_and_image(dist: Path) -> None:
    path = dist / "manifest.json"
    doc = json.loads(path.read_text())
    doc["architecture"] = "arm64"
    for entry in (*doc["functions"].values(), doc["server"]):
        entry["architecture"] = "arm64"
    path.write_text(json.dumps(doc))
    entries = run_plan("dev", root=ROOT, manifest=path, overrides={NS + "architecture": "arm64"})
    functions = [e for e in entries if e["type"] == "aws:lambda/function:Function"]
    assert {tuple(f["inputs"]["architectures"]) for f in functions} == {("arm64",)}
    image = next(e for e in entries if e["type"] == "docker:index/image:Image")
    assert image["inputs"]["build"]["platform"] == "linux/arm64"


def test_bad_route_table_stops_before_any_resource(tmp_path: Path) -> None:
    routes = tmp_path / "routes.json"
    routes.write_text(
        json.dumps({"version": 1, "routes": [{"method": "GET", "path": "/x y", "scope": "s"}]})
    )
    monitor = RecordingMonitor()
    with pytest.raises(RouteError, match="path segment 'x y'"):
        run_plan(
            "dev",
            root=ROOT,
            manifest=MANIFEST,
            overrides={NS + "routesPath": str(routes)},
            monitor=monitor,
        )
    assert monitor.registrations == []
