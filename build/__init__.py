"""rust-on-aws build step: compile app/ once, audit each binary against the Lambda runtime,
bundle the shared libraries it lacks, and write reproducible zips plus dist/manifest.json.

Run ``python -m build --help``; see build/README.md.
"""
