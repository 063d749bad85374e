"""The offline plan: run the Pulumi program under recording mocks, write dist/plan-<stack>.json.

Entry points: `python -m plan --stack dev [--manifest PATH]` and `plan.record.run_plan`.
"""
