"""Guardrails for ECS."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from policy.model import (
    Resource,
    Rule,
    Unknown,
    as_list,
    dig,
    json_input,
)
from policy.rules.common import (
    ECS_CLUSTER,
    ECS_SECRET_ENV_NAMES,
    ECS_SERVICE,
    ECS_TASK_DEFINITION,
    env_secrets,
    rule,
)


def _containers(r: Resource) -> list[Mapping[str, Any]]:
    defs = json_input(r.props, "containerDefinitions")
    if defs is None:
        return []
    if not isinstance(defs, list):
        raise Unknown("containerDefinitions (not a JSON array)")
    return [d for d in defs if isinstance(d, Mapping)]


def _service_no_public_ip(r: Resource) -> Iterator[str]:
    if dig(r.props, "networkConfiguration.assignPublicIp") is True:
        yield (
            "tasks must not get public IPs; got networkConfiguration.assignPublicIp=True; "
            "run tasks in private subnets with assign_public_ip=False"
        )


def _service_platform_version(r: Resource) -> Iterator[str]:
    version = dig(r.props, "platformVersion")
    if dig(r.props, "launchType") == "FARGATE" and version not in (None, "LATEST"):
        yield f"Fargate services must run the latest platform; got {version!r}; omit it or 'LATEST'"


def _cluster_insights(r: Resource) -> Iterator[str]:
    settings = {
        dig(s, "name"): dig(s, "value")
        for s in as_list(dig(r.props, "settings"))
        if isinstance(s, Mapping)
    }
    if settings.get("containerInsights") not in ("enabled", "enhanced"):
        yield (
            f"Container Insights must be on; got containerInsights="
            f"{settings.get('containerInsights')!r}; add setting containerInsights=enabled"
        )


def _task_no_host_pid(r: Resource) -> Iterator[str]:
    if dig(r.props, "pidMode") == "host":
        yield "tasks must not share the host's process namespace; got pidMode='host'; remove it"


def _task_awsvpc(r: Resource) -> Iterator[str]:
    mode = dig(r.props, "networkMode")
    if mode != "awsvpc":
        yield f"tasks must use awsvpc networking; got networkMode={mode!r}; set 'awsvpc'"


def _containers_unprivileged(r: Resource) -> Iterator[str]:
    for c in _containers(r):
        if c.get("privileged") is True:
            yield f"container {c.get('name')!r} must be unprivileged; got privileged=true; drop it"


def _containers_readonly_root(r: Resource) -> Iterator[str]:
    for c in _containers(r):
        if c.get("readonlyRootFilesystem") is not True:
            yield (
                f"container {c.get('name')!r} must have a read-only root filesystem; got "
                f"readonlyRootFilesystem={c.get('readonlyRootFilesystem')!r}; set it to true "
                "(mount a volume for any scratch space)"
            )


def _containers_logging(r: Resource) -> Iterator[str]:
    for c in _containers(r):
        if not isinstance(c.get("logConfiguration"), Mapping) or not c["logConfiguration"].get(
            "logDriver"
        ):
            yield (
                f"container {c.get('name')!r} must log; got logConfiguration="
                f"{c.get('logConfiguration')!r}; add the awslogs driver with a log group that "
                "has retention"
            )


def _containers_no_env_secrets(r: Resource) -> Iterator[str]:
    for c in _containers(r):
        env = {
            str(e.get("name")): e.get("value")
            for e in as_list(c.get("environment"))
            if isinstance(e, Mapping)
        }
        for name in sorted(ECS_SECRET_ENV_NAMES.intersection(env)):
            yield (
                f"container {c.get('name')!r} must not carry AWS credentials; got {name} in its "
                "environment; use the task role for AWS access and `secrets` for credentials"
            )
        for problem in env_secrets({k: v for k, v in env.items() if k not in ECS_SECRET_ENV_NAMES}):
            yield f"container {c.get('name')!r}: {problem} (use the container's `secrets`)"


RULES: tuple[Rule, ...] = (
    rule("ecs-service-no-public-ip", "ECS.2", [ECS_SERVICE], _service_no_public_ip,
          "ECS services do not assign public IPs."),
    rule("ecs-fargate-latest-platform", "ECS.10", [ECS_SERVICE], _service_platform_version,
          "Fargate services run on the latest platform version."),
    rule("ecs-cluster-container-insights", "ECS.12", [ECS_CLUSTER], _cluster_insights,
          "ECS clusters use Container Insights."),
    rule("ecs-task-no-host-pid", "ECS.3", [ECS_TASK_DEFINITION], _task_no_host_pid,
          "Task definitions do not share the host's process namespace."),
    rule("ecs-task-awsvpc", "ECS.1", [ECS_TASK_DEFINITION], _task_awsvpc,
          "Task definitions use awsvpc networking (no host networking)."),
    rule("ecs-containers-unprivileged", "ECS.4", [ECS_TASK_DEFINITION],
          _containers_unprivileged, "Containers run unprivileged."),
    rule("ecs-containers-readonly-root", "ECS.5", [ECS_TASK_DEFINITION],
          _containers_readonly_root, "Containers have read-only root filesystems."),
    rule("ecs-containers-logging", "ECS.9", [ECS_TASK_DEFINITION], _containers_logging,
          "Every container has a logging configuration."),
    rule("ecs-no-secret-in-environment", "ECS.8", [ECS_TASK_DEFINITION],
          _containers_no_env_secrets, "No secret in a container's environment variables."),
)  # fmt: skip
