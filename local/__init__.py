"""The stack on one machine: what API Gateway and Lambda do, reproduced on 127.0.0.1.

`make local` (`python -m local serve`), `make load` and the runtime tests all run on these
modules (local/README.md):

- `local.sandbox`: minimal roots, the jail, the emulator and the server processes;
- `local.services`: moto, PostgreSQL, RDS-shaped databases and secrets, each process's environment;
- `local.artifacts`: dist/ checked against the workspace's declarations;
- `local.gateway`: the front door, API Gateway REST for this API;
- `local.apigw_policy`: API Gateway's evaluation of a Lambda authorizer's IAM policy against an
  execute-api method ARN (wildcards, explicit Deny), used by the front door and by the runtime
  tests that prove the authorizer grants exactly a token's routes;
- `local.events`: the events each trigger delivers;
- `local.stack`, `local.cli`, `local.load`: the stack, its command line, load and faults.
"""
