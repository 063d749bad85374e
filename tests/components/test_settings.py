"""components/settings/: every rule has a configuration that trips it, with its message."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from components.manifest import read_manifest
from components.settings import (
    ConfigError,
    Settings,
    load_schema,
    load_settings,
    resolve_functions,
    schedule_problem,
)
from components.settings.doc import config_table
from plan.config import stack_config

ROOT = Path(__file__).resolve().parents[2]
NS = "rust-on-aws:"
MANIFEST = read_manifest(
    ROOT / "tests" / "fixtures" / "manifest.json", runtime="provided.al2023", architecture="x86_64"
)


def values(stack: str = "dev", **changes: object) -> dict[str, str]:
    """The stack's config (short keys) as the engine passes it, with changes (None unsets)."""
    full = stack_config(stack, ROOT, {NS + k: v for k, v in changes.items()})
    return {k[len(NS) :]: v for k, v in full.items() if k.startswith(NS)}


def load(stack: str = "dev", **changes: object) -> Settings:
    raw = values(stack, **changes)
    return load_settings(raw.get, stack=stack, configured=[NS + k for k in raw])


def errors(stack: str = "dev", **changes: object) -> tuple[str, ...]:
    with pytest.raises(ConfigError) as info:
        load(stack, **changes)
    return info.value.errors


@pytest.mark.parametrize("stack", ["dev", "sandbox", "prod"])
def test_every_stack_loads(stack: str) -> None:
    settings = load(stack)
    assert settings.stack == stack
    assert settings.prefix == f"rust-on-aws-{stack}"


def test_stacks_differ_like_real_environments() -> None:
    dev, prod = load("dev"), load("prod")
    assert (dev.production, prod.production) == (False, True)
    assert (dev.protect, prod.protect) == (False, True)
    assert (dev.database.deletion_protection, prod.database.deletion_protection) == (False, True)
    assert (dev.database.multi_az, prod.database.multi_az) == (False, True)
    assert (dev.network.nat_gateways, prod.network.nat_gateways) == (1, 2)
    assert dev.log_retention_days < prod.log_retention_days
    assert dev.service.max_count < prod.service.max_count
    overrides = {o.key: o.value for o in prod.lambdas.overrides}
    assert overrides["function.handler.reserved-concurrency"] == 200
    assert not [o for o in dev.lambdas.overrides if o.field == "reserved-concurrency"]
    # TLS on every public entry point everywhere; only prod turns the default endpoint off
    for settings in (dev, prod):
        assert settings.domains.api is not None and settings.domains.service is not None
    assert (
        dev.domains.disable_execute_api_endpoint,
        prod.domains.disable_execute_api_endpoint,
    ) == (False, True)
    # one stack per account owns API Gateway's account-wide logging role
    owners = {s: load(s).api.manage_account_logging_role for s in ("dev", "sandbox", "prod")}
    assert owners == {"dev": False, "sandbox": True, "prod": True}


CERT = "arn:aws:acm:eu-west-1:123456789012:certificate/0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0"

# (changes, stack, the one expected error line, exactly)
BAD = [
    pytest.param(
        {"environment": None},
        "dev",
        "rust-on-aws:environment: required (no default in Pulumi.yaml), got nothing; "
        "fix: pulumi config set environment 'development' -s dev",
        id="missing-required-key",
    ),
    pytest.param(
        {"serviceCpu": "lots"},
        "dev",
        "rust-on-aws:serviceCpu: must be an integer (CPU units), got 'lots'; "
        "fix: pulumi config set serviceCpu '256' -s dev",
        id="wrong-type-integer",
    ),
    pytest.param(
        {"function.handler.memory": "lots"},
        "dev",
        "rust-on-aws:function.handler.memory: must be a whole number, got 'lots'; "
        "fix: pulumi config set function.handler.memory '128' -s dev",
        id="override-not-a-number",
    ),
    pytest.param(
        {"function.handler.memroy": 256},
        "dev",
        "rust-on-aws:function.handler.memroy: memroy is not a field a stack may override "
        "(memory, timeout, reserved-concurrency, schedule, env), got '256'; fix: did you mean "
        "function.handler.memory? pulumi config rm function.handler.memroy -s dev",
        id="override-unknown-field",
    ),
    pytest.param(
        {"function.timer.env": "x"},
        "dev",
        "rust-on-aws:function.timer.env: env takes a variable name (function.<name>.env.<VAR>), "
        "the other fields none, got 'x'; fix: pulumi config rm function.timer.env -s dev",
        id="override-env-without-a-name",
    ),
    pytest.param(
        {"function.timer": "x"},
        "dev",
        "rust-on-aws:function.timer: must be function.<name>.<field> (or "
        "function.<name>.env.<VAR>), got 'x'; fix: pulumi config rm function.timer -s dev",
        id="override-without-a-field",
    ),
    pytest.param(
        {"dbMultiAz": "yes"},
        "dev",
        "rust-on-aws:dbMultiAz: must be true or false, got 'yes'; "
        "fix: pulumi config set dbMultiAz 'true' -s dev",
        id="wrong-type-boolean",
    ),
    pytest.param(
        {"architecture": "aarch64"},
        "dev",
        "rust-on-aws:architecture: must be one of x86_64, arm64, got 'aarch64'; "
        "fix: pulumi config set architecture 'x86_64' -s dev",
        id="unknown-architecture",
    ),
    pytest.param(
        {"lambdaRuntime": "provided"},
        "dev",
        "rust-on-aws:lambdaRuntime: must be one of provided.al2023, provided.al2, got 'provided'; "
        "fix: pulumi config set lambdaRuntime 'provided.al2023' -s dev",
        id="unknown-runtime",
    ),
    pytest.param(
        {"dbDeletionProtection": False},
        "prod",
        "rust-on-aws:dbDeletionProtection: must be true when environment is production, "
        "got False; fix: pulumi config set dbDeletionProtection 'true' -s prod",
        id="prod-without-deletion-protection",
    ),
    pytest.param(
        {"protectStateful": False},
        "prod",
        "rust-on-aws:protectStateful: must be true when environment is production, got False; "
        "fix: pulumi config set protectStateful 'true' -s prod",
        id="prod-without-protect",
    ),
    pytest.param(
        {"dbBackupRetentionDays": 1},
        "prod",
        "rust-on-aws:dbBackupRetentionDays: must be at least 7 when environment is production, "
        "got 1; fix: pulumi config set dbBackupRetentionDays '7' -s prod",
        id="prod-short-backups",
    ),
    pytest.param(
        {"logRetentionDays": 10},
        "dev",
        "rust-on-aws:logRetentionDays: must be one of CloudWatch's retention periods (1, 3, 5, "
        "7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, "
        "3288, 3653), got 10; fix: pulumi config set logRetentionDays '14' -s dev",
        id="retention-not-allowed",
    ),
    pytest.param(
        {"natGateways": 3},
        "dev",
        "rust-on-aws:natGateways: must be at most availabilityZoneCount (2): one NAT per AZ at "
        "most, got 3; fix: pulumi config set natGateways '2' -s dev",
        id="nat-more-than-azs",
    ),
    pytest.param(
        {"serviceMinCount": 5, "serviceMaxCount": 3},
        "dev",
        "rust-on-aws:serviceMinCount: must be at most serviceMaxCount (3), got 5; "
        "fix: pulumi config set serviceMinCount '3' -s dev",
        id="min-above-max",
    ),
    pytest.param(
        {"serviceDesiredCount": 4},
        "dev",
        "rust-on-aws:serviceDesiredCount: must be within serviceMinCount..serviceMaxCount "
        "(1..2), got 4; fix: pulumi config set serviceDesiredCount '1' -s dev",
        id="desired-outside-min-max",
    ),
    pytest.param(
        {
            "vpcMode": "existing",
            "existingVpcId": "vpc-0123456789abcdef0",
            "existingPrivateSubnetIds": ["subnet-0aaa1111", "subnet-0bbb2222"],
        },
        "dev",
        "rust-on-aws:existingPublicSubnetIds: vpcMode existing needs at least two subnet ids "
        "subnet-<hex> in two AZs, got []; "
        'fix: pulumi config set existingPublicSubnetIds \'["subnet-0aaa1111", '
        '"subnet-0bbb2222"]\' -s dev',
        id="existing-vpc-without-subnets",
    ),
    pytest.param(
        {
            "vpcMode": "existing",
            "existingVpcId": "",
            "existingPublicSubnetIds": ["subnet-0aaa1111", "subnet-0bbb2222"],
            "existingPrivateSubnetIds": ["subnet-0ccc3333", "subnet-0ddd4444"],
        },
        "dev",
        "rust-on-aws:existingVpcId: vpcMode existing needs a VPC id vpc-<hex>, got ''; "
        "fix: pulumi config set existingVpcId 'vpc-0123456789abcdef0' -s dev",
        id="existing-vpc-without-id",
    ),
    pytest.param(
        {"databaseMode": "external", "externalDbHost": "db.example.internal"},
        "dev",
        "rust-on-aws:externalDbSecretArn: databaseMode external needs a Secrets Manager secret "
        "ARN, got ''; fix: pulumi config set externalDbSecretArn "
        "'arn:aws:secretsmanager:eu-west-1:123456789012:secret:db-AbCdEf' -s dev",
        id="external-db-without-secret",
    ),
    pytest.param(
        {
            "databaseMode": "external",
            "externalDbSecretArn": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:db-x",
        },
        "dev",
        "rust-on-aws:externalDbHost: databaseMode external needs the database host name, "
        "got ''; fix: pulumi config set externalDbHost 'db.example.internal' -s dev",
        id="external-db-without-host",
    ),
    pytest.param(
        {"vpcCidr": "10.0.0.0/33"},
        "dev",
        "rust-on-aws:vpcCidr: must be a private IPv4 network of /16 to /24, got '10.0.0.0/33'; "
        "fix: pulumi config set vpcCidr '10.0.0.0/16' -s dev",
        id="cidr-invalid",
    ),
    pytest.param(
        {"vpcCidr": "8.8.0.0/16"},
        "dev",
        "rust-on-aws:vpcCidr: must be a private IPv4 network of /16 to /24, got '8.8.0.0/16'; "
        "fix: pulumi config set vpcCidr '10.0.0.0/16' -s dev",
        id="cidr-public",
    ),
    pytest.param(
        {"serviceCpu": 256, "serviceMemoryMb": 4096},
        "dev",
        "rust-on-aws:serviceMemoryMb: must be a Fargate memory size for serviceCpu 256 "
        "(512..2048 in steps of 512), got 4096; "
        "fix: pulumi config set serviceMemoryMb '512' -s dev",
        id="fargate-size",
    ),
    pytest.param(
        {"apiThrottleRateLimit": 100, "apiThrottleBurstLimit": 50},
        "dev",
        "rust-on-aws:apiThrottleBurstLimit: must be at least apiThrottleRateLimit (100), got 50; "
        "fix: pulumi config set apiThrottleBurstLimit '100' -s dev",
        id="burst-below-rate",
    ),
    pytest.param(
        {"existingPublicSubnetIds": "subnet-1,subnet-2"},
        "dev",
        "rust-on-aws:existingPublicSubnetIds: must be a list of strings, got 'subnet-1,subnet-2'; "
        "fix: pulumi config set existingPublicSubnetIds '[\"subnet-0abc\"]' -s dev",
        id="wrong-type-array",
    ),
    pytest.param(
        {"dbMaxAllocatedStorageGb": 20, "dbAllocatedStorageGb": 50},
        "dev",
        "rust-on-aws:dbMaxAllocatedStorageGb: must be at least dbAllocatedStorageGb (50), got 20; "
        "fix: pulumi config set dbMaxAllocatedStorageGb '50' -s dev",
        id="storage-ceiling-below-initial",
    ),
    pytest.param(
        {"apiStageName": "v1/beta"},
        "dev",
        "rust-on-aws:apiStageName: must match [A-Za-z0-9_]{1,64}, got 'v1/beta'; "
        "fix: pulumi config set apiStageName 'v1' -s dev",
        id="stage-name",
    ),
    pytest.param(
        {"serviceCertificateArn": "arn:aws:acm:eu-west-1:123456789012:certificate/nope"},
        "dev",
        "rust-on-aws:serviceCertificateArn: must be an ACM certificate ARN "
        "(arn:aws:acm:<region>:<account>:certificate/<uuid>) or empty to create one, "
        "got 'arn:aws:acm:eu-west-1:123456789012:certificate/nope'; "
        "fix: pulumi config set serviceCertificateArn "
        "'arn:aws:acm:eu-west-1:123456789012:certificate/<uuid>' -s dev",
        id="certificate-arn",
    ),
    pytest.param(
        {"apiDomainName": "API.example.com"},
        "dev",
        "rust-on-aws:apiDomainName: must be a lowercase host name (labels of a-z, 0-9 and -), "
        "got 'API.example.com'; fix: pulumi config set apiDomainName 'api.example.com' -s dev",
        id="domain-name",
    ),
    pytest.param(
        {"hostedZoneId": "example.com"},
        "dev",
        "rust-on-aws:hostedZoneId: must be a Route 53 hosted zone id (Z followed by A-Z and "
        "0-9), got 'example.com'; fix: pulumi config set hostedZoneId 'Z0123456789ABCDEFGHIJ' "
        "-s dev",
        id="zone-id",
    ),
    pytest.param(
        {"hostedZoneId": None, "serviceDomainName": None},
        "sandbox",
        "rust-on-aws:hostedZoneId: is needed to create and DNS-validate the certificate of "
        "apiDomainName api.sandbox.fleet.example.com, got ''; fix: pulumi config set "
        "hostedZoneId 'Z0123456789ABCDEFGHIJ' -s sandbox (or set apiCertificateArn)",
        id="zone-needed-for-a-certificate",
    ),
    pytest.param(
        {"apiDomainName": None, "apiCertificateArn": CERT},
        "dev",
        "rust-on-aws:apiDomainName: must be set when apiCertificateArn is: the certificate is "
        "for this host name, got ''; fix: pulumi config set apiDomainName 'api.example.com' "
        "-s dev",
        id="certificate-without-domain",
    ),
    pytest.param(
        {"serviceDomainName": None},
        "prod",
        "rust-on-aws:serviceDomainName: must be set when environment is production: every "
        "public entry point serves TLS, got ''; fix: pulumi config set serviceDomainName "
        "'api.example.com' -s prod",
        id="production-needs-https-on-the-load-balancer",
    ),
    pytest.param(
        {"apiDomainName": None, "apiDisableExecuteApiEndpoint": False},
        "prod",
        "rust-on-aws:apiDomainName: must be set when environment is production: every public "
        "entry point serves TLS, got ''; fix: pulumi config set apiDomainName "
        "'api.example.com' -s prod",
        id="production-needs-the-api-domain",
    ),
    pytest.param(
        {"apiDomainName": None, "apiDisableExecuteApiEndpoint": True},
        "dev",
        "rust-on-aws:apiDisableExecuteApiEndpoint: needs apiDomainName: without the default "
        "endpoint and a custom domain the API has no endpoint, got True; fix: pulumi config "
        "set apiDisableExecuteApiEndpoint 'false' -s dev",
        id="no-endpoint-at-all",
    ),
    pytest.param(
        {
            "databaseMode": "external",
            "externalDbHost": "db.example.internal",
            "externalDbSecretArn": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:db-AbCdEf",
            "externalDbSecretKmsKeyArn": "alias/db",
        },
        "dev",
        "rust-on-aws:externalDbSecretKmsKeyArn: must be a KMS key ARN "
        "(arn:aws:kms:<region>:<account>:key/<id>; not an alias), got 'alias/db'; fix: pulumi "
        "config set externalDbSecretKmsKeyArn "
        "'arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab' -s dev",
        id="kms-key-arn",
    ),
    pytest.param(
        {
            "externalDbSecretKmsKeyArn": (
                "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
            )
        },
        "dev",
        "rust-on-aws:externalDbSecretKmsKeyArn: is only for databaseMode external (the managed "
        "database's secret uses the key RDS manages), got "
        "'arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab'; fix: "
        "pulumi config rm externalDbSecretKmsKeyArn -s dev",
        id="kms-key-without-external-database",
    ),
    pytest.param(
        {"functionRetryAttempts": 3},
        "dev",
        "rust-on-aws:functionRetryAttempts: must be in 0..2 (attempts), got 3; fix: pulumi "
        "config set functionRetryAttempts '0' -s dev",
        id="function-retries",
    ),
    pytest.param(
        {"dbSslMode": "require"},
        "dev",
        "rust-on-aws:dbSslMode: must be one of verify-full, verify-ca, got 'require'; fix: "
        "pulumi config set dbSslMode 'verify-full' -s dev",
        id="tls-without-verification",
    ),
    pytest.param(
        {"dbAppUsername": "pg_app"},
        "dev",
        "rust-on-aws:dbAppUsername: must match [a-z_][a-z0-9_]{0,62} and not start with pg_, "
        "got 'pg_app'; fix: pulumi config set dbAppUsername 'fleet_app' -s dev",
        id="app-role-reserved-prefix",
    ),
    pytest.param(
        {"dbAppUsername": "app"},
        "dev",
        "rust-on-aws:dbAppUsername: must differ from dbUsername (app): the runtime role has no "
        "DDL rights, got 'app'; fix: pulumi config set dbAppUsername 'fleet_app' -s dev",
        id="app-role-is-the-master",
    ),
    pytest.param(
        {"dbName": "App-1"},
        "dev",
        "rust-on-aws:dbName: must match [a-z][a-z0-9_]{0,62}, got 'App-1'; "
        "fix: pulumi config set dbName 'app' -s dev",
        id="db-name",
    ),
    pytest.param(
        {"dbEngineVersion": "12"},
        "dev",
        "rust-on-aws:dbEngineVersion: must be PostgreSQL 13..19 (major or major.minor), "
        "got '12'; fix: pulumi config set dbEngineVersion '16' -s dev",
        id="db-engine-version",
    ),
    pytest.param(
        {"dbInstanceClass": "t4g.micro"},
        "dev",
        "rust-on-aws:dbInstanceClass: must be an RDS instance class db.<family>.<size>, "
        "got 't4g.micro'; fix: pulumi config set dbInstanceClass 'db.t4g.micro' -s dev",
        id="db-instance-class",
    ),
    # --- monitoring ------------------------------------------------------------------------
    pytest.param(
        {"alarmEmails": ["oncall"]},
        "sandbox",
        "rust-on-aws:alarmEmails: each entry must be an e-mail address (local@domain.tld, no "
        "spaces), got 'oncall'; fix: pulumi config set alarmEmails '[\"oncall@example.com\"]' "
        "-s sandbox",
        id="email-no-domain",
    ),
    pytest.param(
        {"alarmEmails": ["ops@example.com", "Ops@Example.com"]},
        "sandbox",
        "rust-on-aws:alarmEmails: must not list an address twice, got 'Ops@Example.com'; fix: "
        "pulumi config set alarmEmails '[\"oncall@example.com\"]' -s sandbox",
        id="email-twice",
    ),
    pytest.param(
        {"alarmEmails": "oncall@example.com", "alarmNotifications": False},
        "sandbox",
        "rust-on-aws:alarmEmails: must be a list of strings, got 'oncall@example.com'; fix: "
        "pulumi config set alarmEmails '[\"oncall@example.com\"]' -s sandbox",
        id="emails-not-a-list",
    ),
    pytest.param(
        {"alarmHttpsEndpoint": "http://events.example.com/sns"},
        "dev",
        "rust-on-aws:alarmHttpsEndpoint: must be an https:// URL with a host (SNS delivers over "
        "TLS only) or empty, got 'http://events.example.com/sns'; fix: pulumi config set "
        "alarmHttpsEndpoint 'https://events.example.com/sns' -s dev",
        id="https-endpoint-plain-http",
    ),
    pytest.param(
        {"alarmNotifications": True},
        "dev",
        "rust-on-aws:alarmNotifications: true needs alarmEmails or alarmHttpsEndpoint to "
        "deliver to, got True; fix: pulumi config set alarmEmails '[\"oncall@example.com\"]' "
        "-s dev (or pulumi config set alarmNotifications false -s dev to keep the alarms silent)",
        id="notifications-to-nobody",
    ),
    pytest.param(
        {"alarmLambdaDurationPercent": 101},
        "dev",
        "rust-on-aws:alarmLambdaDurationPercent: must be in 10..100 (percent of the timeout), "
        "got 101; fix: pulumi config set alarmLambdaDurationPercent '10' -s dev",
        id="duration-percent-above-100",
    ),
    pytest.param(
        {"alarmApi5xxPercent": 0},
        "dev",
        "rust-on-aws:alarmApi5xxPercent: must be in 1..100 (percent), got 0; fix: pulumi config "
        "set alarmApi5xxPercent '1' -s dev",
        id="api-5xx-percent-zero",
    ),
    pytest.param(
        {"alarmApiLatencyP99Ms": 40000},
        "dev",
        "rust-on-aws:alarmApiLatencyP99Ms: must be in 10..30000 (milliseconds), got 40000; fix: "
        "pulumi config set alarmApiLatencyP99Ms '10' -s dev",
        id="api-latency-beyond-the-integration-timeout",
    ),
    pytest.param(
        {"alarmEvaluationMinutes": 0},
        "dev",
        "rust-on-aws:alarmEvaluationMinutes: must be in 1..60 (one-minute periods), got 0; fix: "
        "pulumi config set alarmEvaluationMinutes '1' -s dev",
        id="evaluation-minutes-zero",
    ),
    pytest.param(
        {"alarmLambdaErrors": "some"},
        "dev",
        "rust-on-aws:alarmLambdaErrors: must be an integer (errors per minute), got 'some'; fix: "
        "pulumi config set alarmLambdaErrors '1' -s dev",
        id="errors-threshold-not-a-number",
    ),
    pytest.param(
        {"alarmDbFreeStorageGb": 20},
        "dev",
        "rust-on-aws:alarmDbFreeStorageGb: must be below dbAllocatedStorageGb (20), or the alarm "
        "fires from the start, got 20; fix: pulumi config set alarmDbFreeStorageGb '2' -s dev",
        id="free-storage-threshold-above-the-storage",
    ),
    # --- rollouts --------------------------------------------------------------------------
    pytest.param(
        {"lambdaDeploymentStrategy": "blue-green"},
        "dev",
        "rust-on-aws:lambdaDeploymentStrategy: must be one of canary, linear, all-at-once, got "
        "'blue-green'; fix: pulumi config set lambdaDeploymentStrategy 'canary' -s dev",
        id="unknown-strategy",
    ),
    pytest.param(
        {"lambdaDeploymentPercent": 100},
        "prod",
        "rust-on-aws:lambdaDeploymentPercent: must be in 1..99 (percent of the traffic), got "
        "100; fix: pulumi config set lambdaDeploymentPercent '1' -s prod",
        id="canary-of-everything",
    ),
    pytest.param(
        {"lambdaDeploymentPercent": 60},
        "sandbox",
        "rust-on-aws:lambdaDeploymentPercent: must be at most 50 with lambdaDeploymentStrategy "
        "linear (at least two steps; one step is all-at-once), got 60; fix: pulumi config set "
        "lambdaDeploymentPercent '10' -s sandbox",
        id="linear-in-one-step",
    ),
    pytest.param(
        {"lambdaDeploymentIntervalMinutes": 0},
        "prod",
        "rust-on-aws:lambdaDeploymentIntervalMinutes: must be in 1..120 (minutes), got 0; fix: "
        "pulumi config set lambdaDeploymentIntervalMinutes '1' -s prod",
        id="interval-zero",
    ),
    pytest.param(
        {"lambdaDeploymentPercent": 10, "lambdaDeploymentIntervalMinutes": 15},
        "sandbox",
        "rust-on-aws:lambdaDeploymentIntervalMinutes: a linear rollout of 10% every 15 minutes "
        "takes 135 minutes; at most 120, got 15; fix: pulumi config set "
        "lambdaDeploymentIntervalMinutes '13' -s sandbox",
        id="linear-rollout-too-long",
    ),
]


@pytest.mark.parametrize(("changes", "stack", "expected"), BAD)
def test_bad_configuration_is_rejected_with_one_line(
    changes: dict[str, object], stack: str, expected: str
) -> None:
    assert errors(stack, **changes) == (expected,)


def test_misspelt_key_is_rejected_with_a_suggestion() -> None:
    raw = values(serviceCPU=256)
    with pytest.raises(ConfigError) as info:
        load_settings(raw.get, stack="dev", configured=[NS + k for k in raw] + ["aws:region"])
    assert info.value.errors == (
        "rust-on-aws:serviceCPU: not a key Pulumi.yaml declares, got '256'; "
        "fix: did you mean serviceCpu? pulumi config rm serviceCPU -s dev",
    )


def test_every_error_is_reported_at_once() -> None:
    found = errors(serviceCpu=300, logRetentionDays=10, functionRetryAttempts=9)
    assert [e.split(":")[1] for e in found] == [
        "logRetentionDays",
        "serviceCpu",
        "functionRetryAttempts",
    ]
    with pytest.raises(ConfigError) as info:
        load(serviceCpu=300, logRetentionDays=10)
    message = str(info.value)
    assert message.startswith("invalid configuration of stack 'dev' (2 error(s)):\n  - ")
    assert all("\n" not in line for line in info.value.errors)


def test_production_rules_do_not_apply_to_development() -> None:
    settings = load("dev", dbDeletionProtection=False, protectStateful=False)
    assert settings.production is False


def test_external_database_needs_no_instance_settings() -> None:
    settings = load(
        databaseMode="external",
        externalDbHost="db.example.internal",
        externalDbSecretArn="arn:aws:secretsmanager:eu-west-1:123456789012:secret:db-AbCdEf",
    )
    assert settings.database.mode == "external"
    assert settings.database.external_port == 5432


def test_existing_vpc_mode_carries_ids() -> None:
    settings = load(
        vpcMode="existing",
        existingVpcId="vpc-0123456789abcdef0",
        existingPublicSubnetIds=["subnet-0aaa1111", "subnet-0bbb2222"],
        existingPrivateSubnetIds=["subnet-0ccc3333", "subnet-0ddd4444"],
    )
    assert settings.network.existing_private_subnet_ids == ("subnet-0ccc3333", "subnet-0ddd4444")


def test_zero_and_false_are_kept_not_defaulted() -> None:
    settings = load(
        authorizerCacheTtlSeconds=0, serviceWaitForSteadyState=False, eventRetryAttempts=0
    )
    assert settings.api.authorizer_cache_ttl_seconds == 0
    assert settings.service.wait_for_steady_state is False
    assert settings.events.retry_attempts == 0
    assert load("prod").service.wait_for_steady_state is True


def test_defaults_come_from_pulumi_yaml(tmp_path: Path) -> None:
    project = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())
    project["config"]["rust-on-aws:lambdaConcurrencyQuota"]["default"] = 2048
    changed = tmp_path / "Pulumi.yaml"
    changed.write_text(yaml.safe_dump(project))
    # environment has no default, and notifications on (the default) need an address
    raw = {"environment": "development", "alarmNotifications": "false"}
    settings = load_settings(raw.get, stack="dev", project_file=changed)
    assert settings.lambdas.concurrency_quota == 2048
    assert load_settings(raw.get, stack="dev").lambdas.concurrency_quota == 1000


def test_every_declared_key_is_read_and_every_read_key_declared() -> None:
    schema = load_schema()
    read: list[str] = []
    source = values()

    def raw(key: str) -> str | None:
        read.append(key)
        return source.get(key)

    load_settings(raw, stack="dev")
    assert sorted(set(read)) == sorted(schema)
    assert all(spec.description for spec in schema.values())


def test_stack_files_hold_declared_keys_only() -> None:
    schema = load_schema()
    for stack in ("dev", "sandbox", "prod"):
        doc = yaml.safe_load((ROOT / f"Pulumi.{stack}.yaml").read_text())
        keys = set(doc["config"])
        assert "aws:region" in keys
        unknown = {
            k
            for k in keys
            if k.startswith(NS)
            and k[len(NS) :] not in schema
            and not k.startswith(NS + "function.")
        }
        assert unknown == set(), stack
        # and every function.* override names a function app/ declares, with a valid value
        declared = {n: f.declaration for n, f in MANIFEST.functions.items()}
        resolve_functions(declared, load(stack).lambdas, stack=stack)


@pytest.mark.parametrize(
    "expression",
    [
        "rate(1 hour)",
        "rate(5 minutes)",
        "rate(1 day)",
        "rate(7 days)",
        "cron(15 3 * * ? *)",
        "cron(0 9 ? * MON-FRI *)",
        "cron(0/15 * * * ? *)",
        "cron(0 0 L * ? *)",
        "cron(0 8 ? * 2#1 *)",
        "cron(30 1 1,15 JAN,JUL ? 2030-2035)",
    ],
)
def test_valid_schedule_expressions(expression: str) -> None:
    assert schedule_problem(expression) is None


@pytest.mark.parametrize(
    ("expression", "problem"),
    [
        ("rate(0 minutes)", "the rate value must be positive"),
        ("rate(5 minute)", "the rate unit must be singular for 1 and plural otherwise"),
        ("rate(1 week)", "must be rate(<positive integer> minute(s)|hour(s)|day(s))"),
        ("rate(-1 hours)", "must be rate(<positive integer> minute(s)|hour(s)|day(s))"),
        (
            "cron(0 12 * * ?)",
            "cron takes six fields (minutes hours day-of-month month day-of-week year)",
        ),
        ("cron(60 12 * * ? *)", "cron field minutes '60' is not valid (0..59, , - * /)"),
        ("cron(0 24 * * ? *)", "cron field hours '24' is not valid (0..23, , - * /)"),
        ("cron(0 12 ? FOO * *)", "cron field month 'FOO' is not valid (1..12, , - * /)"),
        ("cron(0 12 ? * ? *)", "exactly one of day-of-month and day-of-week must be ?"),
        ("every hour", "must be rate(...) or cron(...)"),
    ],
)
def test_invalid_schedule_expressions(expression: str, problem: str) -> None:
    assert schedule_problem(expression) == problem


def test_components_readme_documents_every_key() -> None:
    """The README's table is Pulumi.yaml's declarations, exactly (regenerate it with
    `.venv/bin/python -m components.settings.doc`)."""
    readme = (ROOT / "components" / "README.md").read_text()
    assert config_table() in readme
    assert all(f"| `{key}` |" in config_table() for key in load_schema())


@pytest.mark.parametrize(
    ("address", "valid"),
    [
        ("oncall@example.com", True),
        ("first.last+alarms@sub.example.co.uk", True),
        ("o'neil@example.ie", True),
        ("a@b.io", True),
        ("oncall", False),
        ("oncall@", False),
        ("@example.com", False),
        ("on call@example.com", False),
        ("oncall@example", False),
        ("oncall@example..com", False),
        (".oncall@example.com", False),
        ("oncall.@example.com", False),
        ("on..call@example.com", False),
        ("oncall@-example.com", False),
        ("oncall@example.c", False),
        ('"quoted"@example.com', False),
        ("oncall@[192.0.2.1]", False),
        ("a" * 65 + "@example.com", False),
        ("a@" + "b" * 63 + "." + "c" * 63 + "." + "d" * 63 + "." + "e" * 61 + ".com", False),
    ],
)
def test_alarm_email_addresses(address: str, valid: bool) -> None:
    """RFC 5322 dot-atoms at most 64 characters before the @, a host name with a top-level
    domain, at most 254 characters in all (RFC 5321 section 4.5.3.1); the rest refused."""
    changes = {"alarmEmails": [address], "alarmNotifications": True}
    if valid:
        assert load("dev", **changes).monitoring.emails == (address,)
    else:
        assert [e.split(",")[0] for e in errors("dev", **changes)] == [
            "rust-on-aws:alarmEmails: each entry must be an e-mail address (local@domain.tld"
        ]


def test_notifications_off_keeps_the_addresses_unused_and_loads() -> None:
    settings = load("prod", alarmNotifications=False)
    assert settings.monitoring.notifications is False
    assert settings.monitoring.emails == ("oncall@fleet.example.com",)


# Each threshold and which way is stricter: "lower" alarms sooner at a lower value (a rate,
# a latency, a utilisation), "higher" at a higher one (free storage or memory).
STRICTER = {
    "evaluation_minutes": "lower",
    "lambda_errors": "lower",
    "lambda_throttles": "lower",
    "lambda_duration_percent": "lower",
    "lambda_concurrency_percent": "lower",
    "api_5xx_percent": "lower",
    "api_latency_p99_ms": "lower",
    "target_5xx_per_minute": "lower",
    "target_response_p99_ms": "lower",
    "service_cpu_percent": "lower",
    "service_memory_percent": "lower",
    "db_cpu_percent": "lower",
    "db_free_storage_gb": "higher",
    "db_free_memory_mb": "higher",
}


def test_production_alarms_are_stricter_than_development() -> None:
    dev, prod = load("dev").monitoring.thresholds, load("prod").monitoring.thresholds
    for name, direction in STRICTER.items():
        d, p = getattr(dev, name), getattr(prod, name)
        assert (p < d) if direction == "lower" else (p > d), (name, d, p)
    # connections are sized to the instance class (db.r6g.large allows far more), not stricter
    assert set(STRICTER) | {"db_connections"} == set(vars(dev))


def test_rollouts_differ_by_stack() -> None:
    rollouts = {s: load(s).rollout for s in ("dev", "sandbox", "prod")}
    assert {s: r.strategy for s, r in rollouts.items()} == {
        "dev": "all-at-once",
        "sandbox": "linear",
        "prod": "canary",
    }
    assert (rollouts["prod"].percent, rollouts["prod"].interval_minutes) == (10, 10)
    assert rollouts["sandbox"].shift_minutes == 3  # 25, 50, 75, then 100 a minute apart
    assert load("dev").monitoring.notifications is False
    assert load("prod").monitoring.https_endpoint is not None
