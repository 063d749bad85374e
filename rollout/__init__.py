"""`python -m rollout --stack S`: move each function's `live` alias to the version `pulumi up`
published, through CodeDeploy, and wait.

`pulumi up` publishes a new version of every function whose code or configuration changed,
but leaves its `live` alias where it was (CodeDeploy owns it: components/code_deploy.py). This
command reads the stack's `rollout` output (docs/contracts.md section 7), starts one CodeDeploy
deployment per function whose alias is not on that version (an AppSpec naming the alias, its
current and its target version), reports the traffic on the new version as it moves, and exits
non-zero when a deployment fails or is rolled back (its Errors alarm fired), zero when every
deployment succeeded or nothing changed. No Pulumi import: it only needs boto3 (and the Pulumi
CLI with `--stack` to read the output).
"""

from __future__ import annotations
