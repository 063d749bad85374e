"""The AppSpec of one Lambda deployment, as CodeDeploy reads it.

https://docs.aws.amazon.com/codedeploy/latest/userguide/reference-appspec-file-structure-resources.html
(Lambda): `version: 0.0`, one resource of type `AWS::Lambda::Function` naming the function, the
alias CodeDeploy moves, the version the alias is on (`CurrentVersion`) and the one it moves to
(`TargetVersion`). No hooks: the alarms decide (components/README.md says why).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any


def appspec(function_name: str, alias: str, current: str, target: str) -> dict[str, Any]:
    return {
        "version": 0.0,
        "Resources": [
            {
                function_name: {
                    "Type": "AWS::Lambda::Function",
                    "Properties": {
                        "Name": function_name,
                        "Alias": alias,
                        "CurrentVersion": current,
                        "TargetVersion": target,
                    },
                }
            }
        ],
    }


def revision(function_name: str, alias: str, current: str, target: str) -> dict[str, Any]:
    """CreateDeployment's `revision`: the AppSpec inline (`AppSpecContent`), with its sha256."""
    content = json.dumps(appspec(function_name, alias, current, target), sort_keys=True)
    return {
        "revisionType": "AppSpecContent",
        "appSpecContent": {
            "content": content,
            "sha256": hashlib.sha256(content.encode()).hexdigest(),
        },
    }
