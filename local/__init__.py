"""The stack on one machine: what API Gateway and Lambda do, reproduced on 127.0.0.1.

- `local.apigw_policy`: API Gateway's evaluation of a Lambda authorizer's IAM policy against
  an execute-api method ARN (wildcards, explicit Deny). The runtime tests use it to prove the
  authorizer's policies grant exactly a token's routes; the local front door uses it to decide
  requests as API Gateway would.
"""
