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
export TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:55432/postgres

.PHONY: help setup build plan plans plan-diff test lint typecheck test-py test-rust postgres \
        preview up destroy bench clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/:.*## /\t/' | sort

setup: $(SETUP_STAMP) $(RIE) ## idempotent: .venv with pinned requirements, aws-lambda-rie
$(SETUP_STAMP): requirements.txt
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -r requirements.txt
	rm -f $(VENV)/.setup-* && touch $@
$(RIE):
	go install github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie@$(RIE_VERSION)

build: setup ## compile app/ once, audit, bundle, zip: dist/*.zip + dist/manifest.json
	$(PY) -m build all

dist/manifest.json:
	$(MAKE) build

plan: setup dist/manifest.json ## offline plan of STACK (default dev) under mocks: dist/plan-$(STACK).json
	$(PY) -m plan --stack $(STACK)

plans: setup dist/manifest.json ## offline plans of every stack
	for s in dev sandbox prod; do $(PY) -m plan --stack $$s; done

plan-diff: setup ## Markdown diff of the offline plan of STACK between BASE and the work tree
	$(PY) -m plan diff --stack $(STACK) --base $(BASE)

postgres: ## start the test PostgreSQL on 127.0.0.1:55432 (idempotent)
	scripts/postgres.sh start

test: setup postgres lint typecheck test-rust test-py ## everything CI runs

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: setup
	$(VENV)/bin/mypy .

test-rust: postgres
	cd app && cargo test --workspace --locked

test-py: setup postgres
	$(PY) -m pytest

preview: setup dist/manifest.json ## pulumi preview --diff -s STACK (needs the Pulumi CLI and AWS credentials)
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" pulumi preview --diff --stack $(STACK)

up: setup dist/manifest.json ## pulumi up -s STACK (needs the Pulumi CLI and AWS credentials)
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" pulumi up --stack $(STACK)

destroy: setup ## pulumi destroy -s STACK (needs the Pulumi CLI and AWS credentials)
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" pulumi destroy --stack $(STACK)

bench: setup ## side-by-side benchmarks: bench/results/*.json
	$(PY) -m bench

clean: ## remove dist/ and app/target/
	rm -rf dist app/target
