# rust-on-aws: the front door. `make plan` and `make test` are the two commands a newcomer runs.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

STACK ?= dev
BASE ?= origin/main
VENV := .venv
PY := $(VENV)/bin/python
GOBIN ?= $(shell go env GOPATH 2>/dev/null)/bin
RIE := $(GOBIN)/aws-lambda-rie
RIE_VERSION ?= v0.0.0-20261030222936-bef5c4ba774d
SETUP_STAMP := $(VENV)/.setup-$(shell cat requirements.txt | sha256sum | cut -c1-12)
# checkov gets its own venv: its pins (boto3, networkx, packaging) clash with pulumi's.
CHECKOV_VENV := .venv-checkov
CHECKOV := $(CHECKOV_VENV)/bin/checkov --skip-download --quiet --compact
CHECKOV_STAMP := $(CHECKOV_VENV)/.setup-$(shell cat requirements-checkov.txt | sha256sum | cut -c1-12)
ACTIONLINT := $(GOBIN)/actionlint
ACTIONLINT_VERSION ?= v1.7.12
# The test PostgreSQL (scripts/postgres.sh reads PGPORT too): `PGPORT=55433 make test` runs
# everything against a cluster of one's own.
export PGPORT ?= 55432
export TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:$(PGPORT)/postgres

.PHONY: help setup build plan plans plan-diff test lint typecheck test-py test-rust postgres \
        preview up rollout destroy bench clean static policy-check local load

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/:.*## /\t/' | sort

setup: $(SETUP_STAMP) $(RIE) $(CHECKOV_STAMP) $(ACTIONLINT) ## idempotent: .venv with pinned requirements, aws-lambda-rie
$(SETUP_STAMP): requirements.txt
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -r requirements.txt
	rm -f $(VENV)/.setup-* && touch $@
$(RIE):
	# CGO off: a static binary that needs nothing from the minimal Lambda root it runs in.
	CGO_ENABLED=0 go install github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie@$(RIE_VERSION)
$(CHECKOV_STAMP): requirements-checkov.txt
	test -x $(CHECKOV_VENV)/bin/python || python3 -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/pip install -q --disable-pip-version-check -r requirements-checkov.txt
	rm -f $(CHECKOV_VENV)/.setup-* && touch $@
$(ACTIONLINT):
	go install github.com/rhysd/actionlint/cmd/actionlint@$(ACTIONLINT_VERSION)

static: setup ## actionlint on the workflows; checkov on the Dockerfiles and workflows
	$(ACTIONLINT) -color=false
	# build/Dockerfile*: a throwaway build container, run as the calling user (docker run
	# --user) and exiting when the build ends: CKV_DOCKER_2 (HEALTHCHECK) and CKV_DOCKER_3
	# (USER) are about long-running service images and do not apply. No other skip.
	$(CHECKOV) --framework dockerfile --skip-check CKV_DOCKER_2,CKV_DOCKER_3 \
	  $(addprefix -f ,$(wildcard build/Dockerfile*))
	$(CHECKOV) --framework dockerfile github_actions -d .github/workflows \
	  $(addprefix -f ,$(wildcard app/Dockerfile))

policy-check: setup ## the guardrails (policy/) over every stack's offline plan (fixture manifest)
	$(PY) -m plan --stack dev --stack sandbox --stack prod --manifest tests/fixtures/manifest.json \
	  --out 'dist/plan-fixture-{stack}.json' >/dev/null
	$(PY) -m policy.offline dist/plan-fixture-dev.json dist/plan-fixture-sandbox.json \
	  dist/plan-fixture-prod.json

build: setup ## compile app/ once, audit, bundle, zip: dist/*.zip + dist/manifest.json
	$(PY) -m build all

dist/manifest.json:
	$(MAKE) build

# MANIFEST=tests/fixtures/manifest.json plans with the fixture artifacts instead of `make build`'s.
PLAN_MANIFEST := $(if $(MANIFEST),,dist/manifest.json)
PLAN_ARGS := $(if $(MANIFEST),--manifest $(MANIFEST))

plan: setup $(PLAN_MANIFEST) ## offline plan of STACK (default dev) under mocks: dist/plan-$(STACK).json
	$(PY) -m plan --stack $(STACK) $(PLAN_ARGS)

plans: setup $(PLAN_MANIFEST) ## offline plans of every stack
	$(PY) -m plan --stack dev --stack sandbox --stack prod $(PLAN_ARGS)

# Builds what it needs: the work tree's artifacts (dist/, a no-op when current) and BASE's (from
# the artifact cache, or built in a worktree sharing app/target), so code changes show.
plan-diff: $(SETUP_STAMP) ## Markdown diff of the offline plan of STACK between BASE and the work tree
	$(PY) -m plan diff --stack $(STACK) --base $(BASE) $(PLAN_DIFF_ARGS)

postgres: ## start the test PostgreSQL on 127.0.0.1:$PGPORT (55432; TLS, test CA; idempotent)
	scripts/postgres.sh start

test: setup postgres lint typecheck static policy-check test-rust build test-py ## everything CI runs

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: setup
	$(VENV)/bin/mypy .

test-rust: setup postgres ## Rust tests (moto_server from .venv, the test PostgreSQL)
	cd app && cargo test --workspace --locked

test-py: setup postgres
	$(PY) -m pytest

preview: setup dist/manifest.json ## pulumi preview --diff -s STACK (needs the Pulumi CLI and AWS credentials)
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" pulumi preview --diff --stack $(STACK)

up: setup dist/manifest.json ## pulumi up -s STACK (needs the Pulumi CLI and AWS credentials)
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" pulumi up --stack $(STACK)

rollout: setup ## python -m rollout --stack STACK: CodeDeploy moves the aliases to what `up` published (needs the Pulumi CLI and AWS credentials)
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(PY) -m rollout --stack $(STACK)

destroy: setup ## pulumi destroy -s STACK (needs the Pulumi CLI and AWS credentials)
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" pulumi destroy --stack $(STACK)

local: setup ## the stack on 127.0.0.1 through the exact zips, until Ctrl-C (LOCAL_ARGS="--api-port 3000")
	$(PY) -m local serve $(LOCAL_ARGS)

load: setup ## load and faults on a local stack of its own: dist/load.json and a table (LOAD_ARGS="--size small")
	$(PY) -m local load $(LOAD_ARGS)

bench: setup ## side-by-side benchmarks: bench/results/*.json (BENCH_ARGS="--only plan --runs 3")
	$(PY) -m bench $(BENCH_ARGS)

clean: ## remove dist/ and app/target/
	rm -rf dist app/target
