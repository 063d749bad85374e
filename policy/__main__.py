"""CrossGuard entry point: `pulumi preview --policy-pack policy` runs this file.

Constructing `PolicyPack` starts the analyzer's gRPC server and blocks, so nothing else
lives here: the rules are in `policy.rules`, their pulumi-policy wrappers in `policy.pack`.
"""

from __future__ import annotations

import sys
from pathlib import Path

# Pulumi runs this file with policy/ as the working directory and on sys.path, not as the
# `policy` package; put the repository root first so `policy.*` imports the same modules the
# offline runner and the tests use.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pulumi_policy import EnforcementLevel, PolicyPack

from policy.pack import policies

PolicyPack(
    name="rust-on-aws-guardrails",
    enforcement_level=EnforcementLevel.MANDATORY,
    policies=policies(),
)
