"""declarations/schema.py: every rule of a declaration has an input that trips it.

Expected lines are written out in full: the thing (the Cargo.toml and its table), the key, the
rule, the value and the fix. The truths they come from: AWS's limits (Lambda memory 128..10240
MiB, timeout 1..900 s, API Gateway's 29 s integration limit, EventBridge pattern syntax and
schedule syntax), cargo metadata's JSON shape (`packages[].metadata`, `targets[].kind`), and
cargo-lambda's key names (memory, timeout, env, tracing).
"""

from __future__ import annotations

import json
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import pytest

from declarations import (
    DeclarationError,
    FunctionDeclaration,
    ServiceDeclaration,
    from_cargo_metadata,
    function_from_json,
    parse_function,
    references,
    resolve,
    validate_set,
)

ROOT = Path(__file__).resolve().parents[2]
WHERE = "app/x/Cargo.toml [package.metadata.rust-on-aws.function]"


def problems(table: Any, name: str = "x") -> tuple[str, ...]:
    with pytest.raises(DeclarationError) as info:
        parse_function(name, table, WHERE)
    return info.value.problems


def test_a_minimal_declaration_takes_lambdas_defaults() -> None:
    fn = parse_function("x", {"trigger": "none"}, WHERE)
    assert (fn.memory, fn.timeout) == (128, 3)  # Lambda's own defaults
    assert (fn.database, fn.vpc, fn.reserved_concurrency, fn.env, fn.iam) == (
        False,
        False,
        None,
        (),
        (),
    )


def test_the_manifest_record_reads_back_the_same() -> None:
    table = {
        "trigger": "event-pattern",
        "pattern": {"source": ["aws.ecr"], "detail": {"result": ["SUCCESS"]}},
        "memory": 256,
        "timeout": 60,
        "database": True,
        "tracing": "Active",
        "reserved-concurrency": 5,
        "env": {"B": "2", "A": "${stack}"},
        "iam": [{"actions": ["ecr:DescribeImages"], "resources": ["${ecr-repository.arn}"]}],
    }
    fn = parse_function("x", table, WHERE)
    again = function_from_json("x", json.loads(json.dumps(fn.to_json())), "manifest")
    assert again == FunctionDeclaration(**{**again.__dict__, "package": fn.package})
    assert again == fn
    assert fn.vpc is True  # database implies the VPC


@pytest.mark.parametrize(
    ("table", "expected"),
    [
        (
            {"trigger": "cron"},
            f"{WHERE} trigger: must be one of api, api-authorizer, event-pattern, schedule, "
            "migration, none, got 'cron'; fix: trigger = \"none\"",
        ),
        (
            {"trigger": "none", "memroy": 256},
            f"{WHERE} memroy: not a key of the declaration (trigger, schedule, pattern, memory, "
            "timeout, reserved-concurrency, architecture, database, vpc, tracing, env, iam, "
            "bin), got 256; fix: did you mean memory? rename it",
        ),
        (
            {"trigger": "none", "memory": 64},
            f"{WHERE} memory: must be a whole number in 128..10240, got 64; fix: memory = 128",
        ),
        (
            {"trigger": "none", "memory": "1GB"},
            f"{WHERE} memory: must be a whole number in 128..10240, got '1GB'; fix: memory = 128",
        ),
        (
            {"trigger": "none", "timeout": 901},
            f"{WHERE} timeout: must be a whole number in 1..900, got 901; fix: timeout = 900",
        ),
        (
            {"trigger": "api", "timeout": 30},
            f"{WHERE} timeout: must be a whole number in 1..29 (API Gateway's integration "
            "limit), got 30; fix: timeout = 29",
        ),
        (
            {"trigger": "none", "reserved-concurrency": 0},
            f"{WHERE} reserved-concurrency: must be a positive number of executions (0 would "
            "throttle every invocation), got 0; fix: remove it for unreserved concurrency",
        ),
        (
            {"trigger": "schedule"},
            f"{WHERE} schedule: must be an EventBridge schedule expression, got None; fix: "
            'schedule = "rate(1 hour)"',
        ),
        (
            {"trigger": "schedule", "schedule": "every hour"},
            f"{WHERE} schedule: must be rate(...) or cron(...), got 'every hour'; fix: "
            'schedule = "rate(1 hour)"',
        ),
        (
            {"trigger": "schedule", "schedule": "cron(0 12 * * * *)"},
            f"{WHERE} schedule: exactly one of day-of-month and day-of-week must be ?, got "
            "'cron(0 12 * * * *)'; fix: schedule = \"rate(1 hour)\"",
        ),
        (
            {"trigger": "none", "schedule": "rate(1 hour)"},
            f"{WHERE} schedule: is only for trigger schedule (this is none), got 'rate(1 hour)'; "
            "fix: remove it",
        ),
        (
            {"trigger": "event-pattern"},
            f"{WHERE} pattern: pattern must be a non-empty table (an EventBridge event pattern), "
            "got None; fix: [package.metadata.rust-on-aws.function.pattern] source = "
            '["aws.ecr"]',
        ),
        (
            {"trigger": "event-pattern", "pattern": {"source": "aws.ecr"}},
            f"{WHERE} pattern: pattern.source must be a non-empty array of values (or a nested "
            "table) (an EventBridge event pattern), got {'source': 'aws.ecr'}; fix: "
            '[package.metadata.rust-on-aws.function.pattern] source = ["aws.ecr"]',
        ),
        (
            {"trigger": "event-pattern", "pattern": {"detail": {"x": []}}},
            f"{WHERE} pattern: pattern.detail.x must be a non-empty array of values (or a "
            "nested table) (an EventBridge event pattern), got {'detail': {'x': []}}; fix: "
            '[package.metadata.rust-on-aws.function.pattern] source = ["aws.ecr"]',
        ),
        (
            {"trigger": "migration"},
            f"{WHERE} database: must be true for trigger migration, got False; fix: "
            "database = true",
        ),
        (
            {"trigger": "none", "database": True, "vpc": False},
            f"{WHERE} vpc: must be true with database = true: the database is only reachable in "
            "the VPC, got False; fix: remove vpc",
        ),
        (
            {"trigger": "none", "database": "yes"},
            f"{WHERE} database: must be true or false, got 'yes'; fix: database = false",
        ),
        (
            {"trigger": "none", "tracing": "On"},
            f"{WHERE} tracing: must be Active or PassThrough, got 'On'; fix: tracing = \"Active\"",
        ),
        (
            {"trigger": "none", "architecture": "aarch64"},
            f"{WHERE} architecture: must be x86_64 or arm64, got 'aarch64'; fix: "
            'architecture = "x86_64"',
        ),
        (
            {"trigger": "none", "env": {"lower": "x"}},
            f"{WHERE} env.lower: must be an upper-case name [A-Z][A-Z0-9_]*, got 'lower'; fix: "
            "rename it",
        ),
        (
            {"trigger": "none", "env": {"AWS_REGION": "x"}},
            f"{WHERE} env.AWS_REGION: is reserved by Lambda (AWS_*, LAMBDA_*), got 'AWS_REGION'; "
            "fix: rename it",
        ),
        (
            {"trigger": "none", "env": {"DB_PASSWORD": "x"}},
            f"{WHERE} env.DB_PASSWORD: would carry a credential: a secret never goes in an "
            "environment variable, got 'DB_PASSWORD'; fix: read it from Secrets Manager "
            "(database = true gives DB_SECRET_ARN)",
        ),
        (
            {"trigger": "none", "env": {"DB_HOST": "x"}},
            f"{WHERE} env.DB_HOST: is set by the program (docs/contracts.md section 3): declare "
            "database = true for the DB_* variables, got 'DB_HOST'; fix: remove it",
        ),
        (
            {"trigger": "none", "env": {"N": 3}},
            f'{WHERE} env.N: must be a string, got 3; fix: N = "3"',
        ),
        (
            {"trigger": "none", "env": {"N": "${ecr-repo.name}"}},
            f"{WHERE} env.N: ${{ecr-repo.name}} names nothing the stack provides "
            "(ecr-repository.name, ecr-repository.arn, stack, region, account), got "
            "'${ecr-repo.name}'; fix: use ${ecr-repository.name}",
        ),
        (
            {"trigger": "none", "iam": [{"actions": ["ecr:*"], "resources": ["*"]}]},
            f"{WHERE} iam[0] actions: must name each action exactly as service:Action, no "
            "wildcard (least privilege), got ['ecr:*']; fix: actions = [\"ecr:DescribeImages\"]",
        ),
        (
            {"trigger": "none", "iam": [{"actions": ["s3:GetObject"]}]},
            f"{WHERE} iam[0] resources: must be a non-empty array of ARNs (or ${{references}}), "
            'got None; fix: resources = ["${ecr-repository.arn}"]',
        ),
        (
            {"trigger": "none", "iam": [{"actions": ["s3:GetObject"], "resources": ["x"], "x": 1}]},
            f"{WHERE} iam[0] x: not a key of the declaration (actions, resources), got 1; fix: "
            "remove it",
        ),
    ],
)
def test_each_rule_trips_with_one_line(table: dict, expected: str) -> None:
    assert problems(table) == (expected,)


def test_every_problem_at_once() -> None:
    found = problems({"trigger": "api", "memory": 1, "timeout": 99, "nope": True})
    assert [p.split(f"{WHERE} ")[1].split(":")[0] for p in found] == ["nope", "memory", "timeout"]


def test_a_bad_function_name() -> None:
    assert problems({"trigger": "none"}, name="My_Fn")[0].startswith(
        f"{WHERE} bin: the function's name (its binary's) must be [a-z][a-z0-9-]*"
    )


def fn(kind: str, name: str, **more: Any) -> FunctionDeclaration:
    return parse_function(name, {"trigger": kind, **more}, WHERE)


@pytest.mark.parametrize(
    ("functions", "service", "fragment"),
    [
        (
            [fn("api", "a"), fn("api", "b"), fn("api-authorizer", "z")],
            None,
            "at most one function may have trigger api, got a, b",
        ),
        ([fn("api", "a")], None, "the api function a needs a function with trigger api-authorizer"),
        ([fn("api-authorizer", "z")], None, "the authorizer z has no api function to guard"),
        (
            [fn("none", "a", database=True)],
            None,
            "functions a use the database, but no function has trigger migration",
        ),
        (
            [fn("migration", "m", database=True), fn("migration", "n", database=True)],
            None,
            "at most one function may have trigger migration, got m, n",
        ),
        (
            [fn("none", "server")],
            ServiceDeclaration(name="server"),
            "server is declared both as a function and as the service",
        ),
        (
            [fn("none", "a", env={"R": "${ecr-repository.name}"})],
            None,
            "function a names ${ecr-repository...}, but no crate declares the service",
        ),
    ],
)
def test_rules_between_declarations(functions, service, fragment: str) -> None:
    with pytest.raises(DeclarationError) as info:
        validate_set({f.name: f for f in functions}, service, "ws")
    assert any(fragment in p for p in info.value.problems), info.value.problems


def metadata(*packages: dict[str, Any]) -> dict[str, Any]:
    return {"workspace_root": "/ws", "packages": list(packages)}


def package(name: str, bins: list[str], ours: Any = None) -> dict[str, Any]:
    return {
        "name": name,
        "manifest_path": f"/ws/{name}/Cargo.toml",
        "targets": [{"name": b, "kind": ["bin"]} for b in bins] + [{"name": name, "kind": ["lib"]}],
        "metadata": None if ours is None else {"rust-on-aws": ours},
    }


def test_from_cargo_metadata_both_forms() -> None:
    functions, service = from_cargo_metadata(
        metadata(
            package("one", ["solo"], {"function": {"trigger": "none"}}),
            package(
                "many",
                ["a", "b", "srv"],
                {
                    "bin": {
                        "a": {"function": {"trigger": "schedule", "schedule": "rate(1 day)"}},
                        "srv": {"service": {"port": 9000}},
                    }
                },
            ),
            package("plain", ["tool"]),  # declares nothing: not deployed
        )
    )
    assert sorted(functions) == ["a", "solo"]
    assert functions["a"].package == "many"
    assert service == ServiceDeclaration(name="srv", port=9000, package="many")


@pytest.mark.parametrize(
    ("packages", "fragment"),
    [
        (
            [package("p", ["a", "b"], {"function": {"trigger": "none"}})],
            "the crate has several binaries (a, b): say which one this declares",
        ),
        ([package("p", [], {"function": {"trigger": "none"}})], "the crate has no binary"),
        (
            [package("p", ["a"], {"function": {"trigger": "none", "bin": "zz"}})],
            "bin: must name a binary of the crate (a), got 'zz'",
        ),
        (
            [package("p", ["a"], {"bin": {"zz": {"function": {"trigger": "none"}}}})],
            "bin.zz: names no binary of the crate (a)",
        ),
        (
            [package("p", ["a"], {"functions": {}})],
            "functions: not a key of the declaration (function, service, bin), got {}; "
            "fix: did you mean function?",
        ),
        (
            [package("p", ["a"], {"service": {}}), package("q", ["b"], {"service": {}})],
            "at most one crate may declare the service, got p, q",
        ),
        ([package("p", ["a"])], "no crate declares a function or the service"),
        (
            [package("p", ["a"], {"service": {"port": 80}})],
            "port: must be a whole number in 1024..65535, got 80",
        ),
    ],
)
def test_cargo_metadata_problems(packages, fragment: str) -> None:
    with pytest.raises(DeclarationError) as info:
        from_cargo_metadata(metadata(*packages))
    assert any(fragment in p for p in info.value.problems), info.value.problems


def test_references_and_resolve() -> None:
    assert references("a ${stack} b ${region}") == ["a ", ("stack",), " b ", ("region",)]
    lookup = {"stack": "dev", "region": "eu-west-1"}.__getitem__
    assert resolve("${stack}", lookup, "".join) == "dev"
    assert resolve({"k": ["x-${stack}-${region}"]}, lookup, "".join) == {"k": ["x-dev-eu-west-1"]}
    assert resolve(3, lookup, "".join) == 3


def test_app_declares_what_it_deploys_and_the_fixture_agrees() -> None:
    """The app's Cargo.toml files, read two independent ways (cargo metadata here, plain TOML
    in tests/fixtures/make_fixtures.py), give the declarations the fixture manifest records."""
    data = json.loads(
        subprocess.run(
            ["cargo", "metadata", "--format-version", "1", "--no-deps", "--offline",
             "--manifest-path", str(ROOT / "app" / "Cargo.toml")],
            capture_output=True, text=True, check=True,
        ).stdout
    )  # fmt: skip
    functions, service = from_cargo_metadata(data)
    assert sorted(functions) == ["authorizer", "event", "handler", "migrate", "timer"]
    assert service is not None and service.name == "server"
    fixture = json.loads((ROOT / "tests" / "fixtures" / "manifest.json").read_text())
    for name, declared in functions.items():
        assert fixture["functions"][name]["declaration"] == declared.to_json(), name
    # and straight from the TOML, without cargo
    timer = tomllib.loads((ROOT / "app" / "timer" / "Cargo.toml").read_text())
    assert timer["package"]["metadata"]["rust-on-aws"]["function"]["schedule"] == "rate(1 hour)"
