"""Guardrails for ECR."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from policy.model import (
    COMPUTED,
    Resource,
    Rule,
    StackRule,
    by_type,
    dig,
)
from policy.rules.common import (
    ECR_LIFECYCLE_POLICY,
    ECR_REPOSITORY,
    rule,
)


def _ecr_scan_on_push(r: Resource) -> Iterator[str]:
    if dig(r.props, "imageScanningConfiguration.scanOnPush") is not True:
        yield (
            "images must be scanned on push; got imageScanningConfiguration="
            f"{dig(r.props, 'imageScanningConfiguration')!r}; set scan_on_push=True"
        )


def _ecr_immutable(r: Resource) -> Iterator[str]:
    mutability = dig(r.props, "imageTagMutability")
    if mutability not in ("IMMUTABLE", "IMMUTABLE_WITH_EXCLUSION"):
        yield f"tags must be immutable; got imageTagMutability={mutability!r}; set 'IMMUTABLE'"


def _ecr_lifecycle(resources: Sequence[Resource]) -> Iterator[tuple[Resource | None, str]]:
    policies = list(by_type(resources, ECR_LIFECYCLE_POLICY))
    targets = {str(dig(p.props, "repository", "")) for p in policies}
    parents = {p.parent for p in policies if p.parent}
    for repo in by_type(resources, ECR_REPOSITORY):
        name = repo.props.get("name")
        if name in targets:
            continue
        if (name in (None, COMPUTED) or COMPUTED in targets) and repo.parent in parents:
            continue  # name decided at deploy time: matched by owning component instead
        yield (
            repo,
            f"repository {name!r} must have a lifecycle policy; got none; add an "
            "aws.ecr.LifecyclePolicy that expires old images",
        )


RULES: tuple[Rule, ...] = (
    rule("ecr-scan-on-push", "ECR.1", [ECR_REPOSITORY], _ecr_scan_on_push,
          "ECR repositories scan images on push."),
    rule("ecr-immutable-tags", "ECR.2", [ECR_REPOSITORY], _ecr_immutable,
          "ECR repositories have immutable tags."),
    StackRule("ecr-lifecycle-policy", "ECR.3", "Every ECR repository has a lifecycle policy.",
              _ecr_lifecycle, frozenset({ECR_REPOSITORY, ECR_LIFECYCLE_POLICY})),
)  # fmt: skip
