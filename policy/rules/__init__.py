"""The guardrails: AWS Foundational Security Best Practices (FSBP) controls and our own rules.

Each rule is a plain function over resource inputs (camelCase, as in the offline plan), so the
same code runs in three places: the CrossGuard pack (`policy/__main__.py`) during `pulumi
preview`/`up`, the offline runner (`python -m policy.offline dist/plan-<stack>.json`) in CI, and
the tests. Messages follow house style: the thing, the rule, the actual value, the fix.

Controls that cannot be decided from inputs are listed in policy/README.md.
"""

from __future__ import annotations

from policy.model import Rule
from policy.rules import (
    apigateway,
    ecr,
    ecs,
    functions,
    iam,
    load_balancer,
    logs_events,
    monitoring,
    network,
    rds,
)
from policy.rules.common import secret_env_problem

RULES: tuple[Rule, ...] = (
    *functions.RULES,
    *apigateway.RULES,
    *ecs.RULES,
    *ecr.RULES,
    *rds.RULES,
    *iam.RULES,
    *logs_events.RULES,
    *network.RULES,
    *load_balancer.RULES,
    *monitoring.RULES,
)
"""Every guardrail, in the order the reports list them."""

__all__ = ["RULES", "secret_env_problem"]
