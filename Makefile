# The two commands a fresh machine needs: `make run` and `make test`. Everything else is a helper.
SHELL := /bin/bash
.DEFAULT_GOAL := help

CARGO ?= cargo
VENV  ?= .venv
PY    := $(VENV)/bin/python
# The PostgreSQL server the tests may create databases on; empty skips the PostgreSQL variants
# (loudly). .ci/run always sets it.
CRM_TEST_POSTGRES_URL ?=
export CRM_TEST_POSTGRES_URL
# The PostgreSQL server `make bench-load` creates its scratch databases on, and extra flags for
# crm-loadgen (e.g. LOADGEN_ARGS="--compare-crmd /tmp/crmd-before --duration 5s").
BENCH_POSTGRES_URL ?= $(or $(CRM_TEST_POSTGRES_URL),postgres://postgres@127.0.0.1:5432/postgres)
LOADGEN_ARGS ?=
TARGET_DIR = $${CARGO_TARGET_DIR:-$(CURDIR)/target}

.PHONY: help run build test test-rust test-python bench bench-load lint fmt python-client buf buf-breaking ts-client clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

run: ## Run crmd on 127.0.0.1:50051 with the embedded SQLite database ./crm.db, metrics on 127.0.0.1:9464
	$(CARGO) run --release -p crm-server --bin crmd -- --metrics-addr 127.0.0.1:9464

build: ## Build every crate and binary
	$(CARGO) build --workspace --all-targets

test: test-rust test-python ## Run every test (Rust unit, property and end-to-end; Python client end-to-end)

test-rust: ## Rust tests (nextest); PostgreSQL variants run when CRM_TEST_POSTGRES_URL is set
	$(CARGO) build -p crm-server --bin crmd
	$(CARGO) build -p crm-cli --bin crmctl
	$(CARGO) nextest run --workspace --no-fail-fast
	$(CARGO) test --workspace --doc

test-python: python-client ## The generated Python client against a real crmd
	$(CARGO) build -p crm-server --bin crmd
	CRMD=$${CARGO_TARGET_DIR:-$(CURDIR)/target}/debug/crmd $(PY) -m pytest -q clients/python/tests

python-client: $(VENV)/.installed ## Generate the Python client from proto/ into clients/python/gen
	rm -rf clients/python/gen && mkdir -p clients/python/gen
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(PY) -m grpc_tools.protoc -Iproto \
		--python_out=clients/python/gen --grpc_python_out=clients/python/gen \
		--mypy_out=clients/python/gen --mypy_grpc_out=clients/python/gen \
		$$(cd proto && find . -name '*.proto' | sed 's|^\./||')

$(VENV)/.installed: clients/python/requirements.txt
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r clients/python/requirements.txt
	touch $@

node_modules/.installed: package.json package-lock.json
	npm install --no-audit --no-fund --no-save
	touch $@

buf: node_modules/.installed ## Install the npm tools: the buf CLI, protoc-gen-es and tsc (package.json)

buf-breaking: buf ## buf breaking of proto/ against main (its merge-base with HEAD; see .ci/buf-breaking)
	bash .ci/buf-breaking

ts-client: buf ## Generate the TypeScript client into clients/ts/gen (buf.gen.ts.yaml) and type-check it with tsc
	npx --no-install buf generate --template buf.gen.ts.yaml
	npx --no-install tsc --noEmit -p clients/ts

bench: ## GetCustomer and CheckPermission latency over loopback, the per-call cost of crmd's layers against bare tonic, ReclassifyCustomers and crmctl import throughput (SQLite, and PostgreSQL when CRM_TEST_POSTGRES_URL is set); the authorizer at 10/1k/100k bindings
	$(CARGO) bench -p crm-tests --bench get_latency
	$(CARGO) bench -p crm-tests --bench check_latency
	$(CARGO) bench -p crm-tests --bench observability_overhead
	$(CARGO) bench -p crm-tests --bench reclassify
	$(CARGO) build --release -p crm-cli --bin crmctl
	$(CARGO) bench -p crm-tests --bench import
	$(CARGO) bench -p crm-domain --bench authorizer

bench-load: ## Load benchmark (crm-loadgen): the release crmd under gRPC load against pgbench and the gRPC health check on the same PostgreSQL (BENCH_POSTGRES_URL), plus SQLite; 10k customers, 100k re-classified; prints the issue-11 table (LOADGEN_ARGS adds flags)
	$(CARGO) build --release -p crm-server --bin crmd
	$(CARGO) build --release -p crm-loadgen --bin crm-loadgen
	$(TARGET_DIR)/release/crm-loadgen --crmd $(TARGET_DIR)/release/crmd \
		--postgres-url '$(BENCH_POSTGRES_URL)' --customers 10000 --duration 10s --concurrency 16 \
		--reclassify-customers 100000 $(LOADGEN_ARGS)

lint: buf buf-breaking ts-client ## buf breaking against main and the TypeScript client's tsc, then cargo fmt --check, clippy -D warnings, buf lint
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	npx --no-install buf lint

fmt: ## Format the Rust code
	$(CARGO) fmt --all

clean: ## Remove build output, the virtual environment and generated clients
	$(CARGO) clean
	rm -rf $(VENV) clients/python/gen clients/ts/gen node_modules
