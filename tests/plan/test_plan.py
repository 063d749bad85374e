"""The issue's "must be true" list and the wiring, on the plan of every stack."""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml

from components.routes import load_routes
from components.settings import LOG_RETENTION_DAYS
from plan.mocks import mock_id, mock_name
from plan.record import run_plan
from plan.view import Plan, policy_json

ROOT = Path(__file__).resolve().parents[2]
MANIFEST = ROOT / "tests" / "fixtures" / "manifest.json"

FN = "aws:lambda/function:Function"
#: A Lambda integration's uri / an authorizerUri, as AWS documents them
#: (https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-api-integration-types.html).
INVOKE_ARN = re.compile(
    r"arn:aws:apigateway:eu-west-1:lambda:path/2015-03-31/functions/"
    r"arn:aws:lambda:eu-west-1:\d{12}:function:[A-Za-z0-9_-]+:live/invocations"
)


def stack_values(stack: str) -> dict:
    return yaml.safe_load((ROOT / f"Pulumi.{stack}.yaml").read_text())["config"]


def test_five_rust_functions(plan: Plan, stack: str) -> None:
    functions = plan.of(FN)
    assert sorted(f["name"] for f in functions) == [
        f"rust-on-aws-{stack}-{n}" for n in ("authorizer", "event", "handler", "migrate", "timer")
    ]
    for function in functions:
        inputs = function["inputs"]
        assert inputs["runtime"] == "provided.al2023"
        assert inputs["handler"] == "bootstrap"
        assert inputs["architectures"] == ["x86_64"]
        assert inputs["code"]["path"].endswith(".zip")
        assert inputs["publish"] is True


def test_one_service_one_image(plan: Plan) -> None:
    assert len(plan.of("aws:ecs/service:Service")) == 1
    assert len(plan.of("docker:index/image:Image")) == 1


def _operations(plan: Plan) -> dict[tuple[str, str], dict]:
    body = json.loads(plan.one("aws:apigateway/restApi:RestApi")["inputs"]["body"])
    return {(m.upper(), path): op for path, item in body["paths"].items() for m, op in item.items()}


def test_token_authorizer_uses_the_authorizer_function(plan: Plan, stack: str) -> None:
    api = plan.one("aws:apigateway/restApi:RestApi")
    body = json.loads(api["inputs"]["body"])
    [scheme] = body["components"]["securitySchemes"].values()
    authorizer = scheme["x-amazon-apigateway-authorizer"]
    assert authorizer["type"] == "token"
    assert INVOKE_ARN.fullmatch(authorizer["authorizerUri"])
    assert f":function:rust-on-aws-{stack}-authorizer:live/" in authorizer["authorizerUri"]
    fed = {e["name"] for e in plan.fed_by(api, "body")}
    assert fed == {f"rust-on-aws-{stack}-authorizer-live", f"rust-on-aws-{stack}-handler-live"}


def test_every_route_is_one_operation_behind_the_authorizer(plan: Plan) -> None:
    routes = load_routes(ROOT / "app" / "routes.json")
    ops = _operations(plan)
    assert set(ops) == {(r.method, r.path) for r in routes}
    assert all(op["security"] for op in ops.values())


def test_integrations_target_the_handler_alias(plan: Plan, stack: str) -> None:
    for op in _operations(plan).values():
        integration = op["x-amazon-apigateway-integration"]
        assert integration["type"] == "aws_proxy"
        assert INVOKE_ARN.fullmatch(integration["uri"])
        assert f":function:rust-on-aws-{stack}-handler:live/" in integration["uri"]


def test_event_rules(plan: Plan, stack: str) -> None:
    rules = plan.of("aws:cloudwatch/eventRule:EventRule")
    patterns = [r for r in rules if "eventPattern" in r["inputs"]]
    schedules = [r for r in rules if "scheduleExpression" in r["inputs"]]
    assert len(patterns) == 1
    assert len(schedules) == 1
    # the timer crate declares rate(1 hour); sandbox and prod override it
    expected = stack_values(stack).get("rust-on-aws:function.timer.schedule", "rate(1 hour)")
    assert schedules[0]["inputs"]["scheduleExpression"] == expected
    pattern = policy_json(patterns[0]["inputs"]["eventPattern"])
    repo = plan.one("aws:ecr/repository:Repository")
    assert {e["urn"] for e in plan.fed_by(patterns[0], "eventPattern")} == {repo["urn"]}
    assert pattern["detail"]["repository-name"] == [
        repo["inputs"].get("name", mock_name(repo["type"], repo["name"]))
    ]


def test_database_encrypted_private_no_password(plan: Plan) -> None:
    rds = plan.one("aws:rds/instance:Instance")["inputs"]
    assert rds["storageEncrypted"] is True
    assert rds["publiclyAccessible"] is False
    assert rds["manageMasterUserPassword"] is True
    assert "password" not in rds


def test_every_permission_has_a_source_arn(plan: Plan) -> None:
    permissions = plan.of("aws:lambda/permission:Permission")
    assert len(permissions) == 4
    assert all(p["inputs"].get("sourceArn", "").startswith("arn:aws:") for p in permissions)


def _statements(plan: Plan) -> list[dict]:
    found = []
    for entry in plan:
        for key in ("policy", "assumeRolePolicy"):
            value = entry["inputs"].get(key)
            if entry["type"].startswith(("aws:iam/", "aws:sqs/")) and value:
                found += policy_json(value)["Statement"]
    return found


def test_no_policy_allows_every_action(plan: Plan) -> None:
    statements = _statements(plan)
    assert len(statements) > 10
    for statement in statements:
        actions = statement["Action"]
        actions = [actions] if isinstance(actions, str) else actions
        assert "*" not in actions
        assert all(not a.endswith(":*") for a in actions)


def test_log_groups_exist_before_functions(plan: Plan) -> None:
    for function in plan.of(FN):
        group = plan.one("aws:cloudwatch/logGroup:LogGroup", f"{function['name']}-logs")
        assert group["urn"] in function["dependsOn"]
        assert group["inputs"]["name"] == f"/aws/lambda/{function['name']}"


def test_log_retention_everywhere(plan: Plan, stack: str) -> None:
    expected = stack_values(stack)["rust-on-aws:logRetentionDays"]
    assert expected in LOG_RETENTION_DAYS
    groups = plan.of("aws:cloudwatch/logGroup:LogGroup")
    assert len(groups) == len(plan.of(FN)) + 2  # the functions', the server's, the API's
    assert {g["inputs"]["retentionInDays"] for g in groups} == {expected}


def test_no_password_in_any_environment(plan: Plan) -> None:
    for function in plan.of(FN):
        variables = function["inputs"]["environment"]["variables"]
        assert not [k for k in variables if "PASSWORD" in k]
    task = plan.one("aws:ecs/taskDefinition:TaskDefinition")["inputs"]
    [container] = json.loads(task["containerDefinitions"])
    assert not [e for e in container["environment"] if "PASSWORD" in e["name"]]
    # the server reads its secret itself (and again after a rotation): nothing injected
    assert "secrets" not in container
    text = json.dumps(plan.entries)
    assert "mock-ecr-password" not in text


def test_only_the_migration_sees_the_master_secret(plan: Plan, stack: str) -> None:
    """Runtime processes connect as the least-privilege role: its secret, never the owner's."""
    rds = plan.one("aws:rds/instance:Instance")
    app_secret = plan.one(
        "aws:secretsmanager/secret:Secret", f"rust-on-aws-{stack}-db-app-credentials"
    )
    for function in plan.of(FN):
        short = function["name"].rsplit("-", 1)[1]
        variables = function["inputs"]["environment"]["variables"]
        fed = {e["urn"] for e in plan.fed_by(function, "environment")}
        if short == "migrate":
            assert {"DB_MASTER_SECRET_ARN", "DB_APP_SECRET_ARN", "DB_APP_USERNAME"} <= set(
                variables
            )
            assert rds["urn"] in fed and app_secret["urn"] in fed
            assert "DB_SECRET_ARN" not in variables
        else:
            assert re.fullmatch(
                r"arn:aws:secretsmanager:eu-west-1:\d{12}:secret:[A-Za-z0-9/_+=.@-]+",
                variables["DB_SECRET_ARN"],
            )
            assert app_secret["urn"] in fed and rds["urn"] in fed  # host and port are the DB's
            assert not [k for k in variables if "MASTER" in k]
    # and only the migrate role may read the master secret (RDS names it rds!db-...)
    for policy in plan.of("aws:iam/rolePolicy:RolePolicy"):
        statements = policy_json(policy["inputs"]["policy"])["Statement"]
        reads_master = any("secret:rds!" in str(st.get("Resource")) for st in statements)
        assert reads_master == (policy["name"] == f"rust-on-aws-{stack}-migrate-policy"), policy[
            "name"
        ]


def test_new_code_goes_live_only_after_the_migration(plan: Plan, stack: str) -> None:
    migration = plan.one("aws:lambda/invocation:Invocation", f"rust-on-aws-{stack}-migration")
    migrate = plan.one("aws:lambda/alias:Alias", f"rust-on-aws-{stack}-migrate-live")
    assert {e["urn"] for e in plan.fed_by(migration, "qualifier")} == {migrate["urn"]}
    for alias in plan.of("aws:lambda/alias:Alias"):
        if alias["urn"] != migrate["urn"]:
            assert migration["urn"] in alias["dependsOn"], alias["name"]
    task = plan.one("aws:ecs/taskDefinition:TaskDefinition")
    assert migration["urn"] in task["dependsOn"]
    # it runs again whenever the migrate zip (the migrations are in it) changes
    code = plan.one(FN, f"rust-on-aws-{stack}-migrate")["inputs"]["code"]["sha256"]
    assert migration["inputs"]["triggers"]["migrate_zip"] == code


def test_lambda_environment_per_contract(plan: Plan, stack: str) -> None:
    common = {
        "DB_HOST",
        "DB_PORT",
        "DB_NAME",
        "DB_SECRET_ARN",
        "DB_SSLMODE",
        "DB_SSLROOTCERT",
        "RUST_LOG",
    }
    env = {
        f["name"].rsplit("-", 1)[1]: f["inputs"]["environment"]["variables"] for f in plan.of(FN)
    }
    assert set(env["handler"]) == common
    assert set(env["authorizer"]) == common
    assert set(env["event"]) == common | {"ECR_REPOSITORY_NAME"}
    assert set(env["timer"]) == common | {"TOKEN_RETENTION_DAYS", "COMMAND_RETENTION_DAYS"}
    repo = plan.one("aws:ecr/repository:Repository")
    assert env["event"]["ECR_REPOSITORY_NAME"] == mock_name(repo["type"], repo["name"])
    # the server's certificate is verified against the bundle every zip ships (docs/contracts.md)
    assert env["handler"]["DB_SSLMODE"] == "verify-full"
    assert env["handler"]["DB_SSLROOTCERT"] == "/var/task/certs/rds-ca-bundle.pem"
    assert set(env["migrate"]) == (common - {"DB_SECRET_ARN"}) | {
        "DB_MASTER_SECRET_ARN",
        "DB_APP_SECRET_ARN",
        "DB_APP_USERNAME",
    }
    assert env["timer"]["TOKEN_RETENTION_DAYS"] == "30"
    rds = plan.one("aws:rds/instance:Instance")
    assert env["handler"]["DB_HOST"].startswith(rds["name"])


def test_only_the_event_lambda_reads_ecr_and_only_its_repository(plan: Plan) -> None:
    repo = plan.one("aws:ecr/repository:Repository")
    repo_arn = (
        f"arn:aws:ecr:eu-west-1:123456789012:repository/{mock_name(repo['type'], repo['name'])}"
    )
    for entry in plan.of("aws:iam/rolePolicy:RolePolicy"):
        if not entry["name"].endswith("-policy") or "-server-" in entry["name"]:
            continue
        statements = policy_json(entry["inputs"]["policy"])["Statement"]
        ecr = [st for st in statements if str(st["Action"]).startswith("ecr:")]
        if entry["name"].endswith("-event-policy"):
            assert ecr == [
                {"Effect": "Allow", "Action": "ecr:DescribeImages", "Resource": repo_arn}
            ]
        else:
            assert ecr == [], entry["name"]


def test_server_container_checks_its_own_health(plan: Plan) -> None:
    task = plan.inputs("aws:ecs/taskDefinition:TaskDefinition")
    [container] = json.loads(task["containerDefinitions"])
    assert container["healthCheck"]["command"] == ["CMD", "/app/server", "healthcheck"]


def test_database_admits_only_the_service_and_the_lambdas(plan: Plan, stack: str) -> None:
    sg = "aws:ec2/securityGroup:SecurityGroup"
    prefix = f"rust-on-aws-{stack}"
    db_sg = mock_id(sg, f"{prefix}-db-sg")
    rules = [
        r["inputs"]
        for r in plan.of("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule")
        if r["inputs"]["securityGroupId"] == db_sg
    ]
    assert {r["referencedSecurityGroupId"] for r in rules} == {
        mock_id(sg, f"{prefix}-server-task-sg"),
        *(
            mock_id(sg, f"{prefix}-{n}-sg")
            for n in ("authorizer", "handler", "event", "timer", "migrate")
        ),
    }
    assert all((r["fromPort"], r["toPort"], r["ipProtocol"]) == (5432, 5432, "tcp") for r in rules)
    assert all("cidrIpv4" not in r for r in rules)


def test_stateful_resources_protected_in_prod_only(plan: Plan, stack: str) -> None:
    stateful = [
        plan.one("aws:rds/instance:Instance"),
        plan.one("aws:ecr/repository:Repository"),
        plan.one("aws:secretsmanager/secret:Secret"),
        *plan.of("aws:cloudwatch/logGroup:LogGroup"),
    ]
    assert {e["protect"] for e in stateful} == {stack == "prod"}
    rds = plan.one("aws:rds/instance:Instance")["inputs"]
    assert rds["deletionProtection"] is (stack == "prod")
    assert rds["multiAz"] is (stack == "prod")
    others = [e for e in plan if e not in stateful]
    assert not [e["name"] for e in others if e["protect"]]


def test_stacks_differ_in_size(plan: Plan, stack: str) -> None:
    nats = len(plan.of("aws:ec2/natGateway:NatGateway"))
    handler = plan.one(FN, f"rust-on-aws-{stack}-handler")["inputs"]
    target = plan.one("aws:appautoscaling/target:Target")["inputs"]
    shape = (nats, handler.get("reservedConcurrentExecutions"), target["maxCapacity"])
    assert shape == {"dev": (1, None, 2), "sandbox": (1, None, 3), "prod": (2, 200, 10)}[stack]


def test_every_resource_belongs_to_a_component(plan: Plan, stack: str) -> None:
    components = {e["name"] for e in plan if not e["custom"]}
    assert {e["type"].split(":")[1] for e in plan if not e["custom"]} == {
        "network",
        "database",
        "service",
        "rust_lambda",
        "rest_api",
        "event_rules",
        "certificate",
        "migration",
        "monitoring",
        "code_deploy",
    }
    # components are top-level, but for the migrate function, which the migration owns
    nested = {e["name"]: e["parent"] for e in plan if not e["custom"] and e["parent"]}
    assert nested == {f"rust-on-aws-{stack}-migrate": f"rust-on-aws-{stack}-migration"}
    assert all(e["parent"] in components for e in plan if e["custom"])


def test_plan_is_machine_independent(plan: Plan) -> None:
    text = json.dumps(plan.entries)
    assert str(ROOT) not in text
    assert "<computed>" not in text  # preview=False: every output resolved
    for entry in plan:
        assert set(entry) >= {"type", "name", "parent", "urn", "inputs"}
        assert entry["urn"].endswith(f"::{entry['name']}")


def test_runs_repeat_in_one_process(stack_entries) -> None:
    first = run_plan("dev", root=ROOT, manifest=MANIFEST)
    second = run_plan("dev", root=ROOT, manifest=MANIFEST)
    assert first == second == stack_entries("dev")
