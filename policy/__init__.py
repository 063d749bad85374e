"""Guardrails for rust-on-aws: a CrossGuard policy pack and an offline runner over plans.

- `policy.rules`: the rules (FSBP controls and ours) as plain functions over resource inputs.
- `policy.engine`: runs them over a list of resources (an offline plan) and collects results.
- `policy.pack`: wraps them as pulumi-policy policies (enforcement mandatory).
- `policy/__main__.py`: the pack's entry point for `pulumi preview --policy-pack policy`.
- `python -m policy.offline dist/plan-<stack>.json`: the same rules over an offline plan.
"""

from __future__ import annotations
