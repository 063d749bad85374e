"""The service section: the ECS Fargate service behind its load balancer."""

from __future__ import annotations

from dataclasses import dataclass

from components.settings.reader import (
    FARGATE_MEMORY,
    Reader,
)


@dataclass(frozen=True, kw_only=True)
class ServiceSettings:
    cpu: int
    memory_mb: int
    desired_count: int
    min_count: int
    max_count: int
    cpu_target_percent: int
    wait_for_steady_state: bool


def read_service(r: Reader) -> ServiceSettings:
    fix = r.set_fix
    cpu = r.integer("serviceCpu", 256, 16384, "CPU units")
    memory = r.integer("serviceMemoryMb", 512, 122880, "MiB")
    if cpu not in FARGATE_MEMORY:
        sizes = ", ".join(map(str, FARGATE_MEMORY))
        r.fail("serviceCpu", f"must be a Fargate CPU size ({sizes})", cpu, fix("serviceCpu", 256))
    elif memory not in FARGATE_MEMORY[cpu]:
        allowed = FARGATE_MEMORY[cpu]
        r.fail(
            "serviceMemoryMb",
            f"must be a Fargate memory size for serviceCpu {cpu} "
            f"({allowed[0]}..{allowed[-1]} in steps of {allowed[1] - allowed[0]})",
            memory,
            fix("serviceMemoryMb", allowed[0]),
        )
    desired = r.integer("serviceDesiredCount", 0, 1000, "tasks")
    min_count = r.integer("serviceMinCount", 0, 1000, "tasks")
    max_count = r.integer("serviceMaxCount", 1, 1000, "tasks")
    if min_count > max_count:
        r.fail(
            "serviceMinCount",
            f"must be at most serviceMaxCount ({max_count})",
            min_count,
            fix("serviceMinCount", max_count),
        )
    elif not min_count <= desired <= max_count:
        r.fail(
            "serviceDesiredCount",
            f"must be within serviceMinCount..serviceMaxCount ({min_count}..{max_count})",
            desired,
            fix("serviceDesiredCount", min_count),
        )
    return ServiceSettings(
        cpu=cpu,
        memory_mb=memory,
        desired_count=desired,
        min_count=min_count,
        max_count=max_count,
        cpu_target_percent=r.integer("serviceCpuTargetPercent", 10, 90, "percent"),
        wait_for_steady_state=r.boolean("serviceWaitForSteadyState"),
    )
