# Everything a new machine needs is installed by these targets; nothing is assumed
# beyond Python 3.11+, Node/npm and access to the PyPI and npm registries.

SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
ENV ?= SOD

# The CDK CLI and jsii run on the Node 22 pinned in package.json, not the machine's.
export PATH := $(CURDIR)/node_modules/.bin:$(PATH)
export JSII_SILENCE_WARNING_UNTESTED_NODE_VERSION := 1

.PHONY: help install local test lint typecheck unit bench synth check-env diff bootstrap deploy \
	destroy clean

help:
	@echo "make local              run the whole flow on loopback; ONCE=1 posts the examples and"
	@echo "                        exits, PORT=n picks the port, VERBOSE=1 shows the JSON logs"
	@echo "make test               lint, type-check and run every test (ARGS=... goes to pytest)"
	@echo "make lint | typecheck | unit   one part of make test"
	@echo "make bench              time the receiver against a bare boto3 + PyJWT floor, and"
	@echo "                        size what it deploys; exits non-zero if a goal is missed"
	@echo "make synth              write the SOD, Stage and Production templates to cdk.out/"
	@echo "make diff ENV=SOD       what a deploy of one environment would change (AWS credentials);"
	@echo "                        ENV is SOD, Stage or Production (as in cdk.json), SOD if not given"
	@echo "make bootstrap          prepare the AWS account and region for the CDK, once"
	@echo "make deploy ENV=SOD     deploy one environment (AWS credentials)"
	@echo "make destroy ENV=SOD    delete one environment's stack (AWS credentials)"
	@echo "make install            only install: .venv, node_modules, the Lambda dependencies"
	@echo "make clean              remove everything the targets installed or generated"

$(VENV)/.installed: requirements-dev.txt requirements-cdk.txt constraints.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt -c constraints.txt
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-fund --no-audit
	touch $@

# The functions' dependencies, built from arm64 manylinux wheels (no Docker).
.build/lambda-dependencies/.built: $(VENV)/.installed requirements-lambda.txt
	$(PY) -m stacks.lambda_dependencies
	touch $@

install: $(VENV)/.installed node_modules/.installed .build/lambda-dependencies/.built

local: $(VENV)/.installed
	$(PY) -m tools.local_stack $(if $(ONCE),--once) $(if $(PORT),--port $(PORT)) $(if $(VERBOSE),--verbose)

lint: $(VENV)/.installed
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/ruff check .

typecheck: $(VENV)/.installed
	$(VENV)/bin/mypy

unit: install
	$(PY) -m pytest $(ARGS)

test: lint typecheck unit

bench: install
	$(PY) -m tools.bench $(ARGS)

synth: install
	npx cdk synth --quiet 2>&1 | { grep -v '^Supply a stack id' || true; }
	@ls cdk.out/assembly-*/*.template.json

# The CDK CLI takes a stage that does not exist as "nothing to do"; say so instead.
check-env: $(VENV)/.installed
	@$(PY) -m stacks.config '$(ENV)'

diff: install check-env
	npx cdk diff '$(ENV)/*'

bootstrap: install
	npx cdk bootstrap

deploy: install check-env
	npx cdk deploy '$(ENV)/*'

destroy: install check-env
	npx cdk destroy '$(ENV)/*'

clean:
	rm -rf $(VENV) node_modules cdk.out .build .local .pytest_cache .mypy_cache .ruff_cache \
		.hypothesis
