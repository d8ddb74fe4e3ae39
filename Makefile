# CodeAct platform. `make demo` and `make test` install what they need.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
SANDBOX_ENV := .sandbox/env
PROTO_DIR := protos
PROTO_SRC := $(wildcard $(PROTO_DIR)/codeact/v1/*.proto)
GEN_DIR := clients/python
GEN_PKG := $(GEN_DIR)/codeact/v1

.PHONY: all venv sandbox-env postgres certs proto proto-check lint format test test-fast demo bench up clean

all: test

# --- installation -----------------------------------------------------------
$(VENV)/.installed: pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 11), "Python 3.11 is required"'
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet -e '.[dev]'
	touch $@

venv: $(VENV)/.installed

# The jailed interpreter is Debian's /usr/bin/python3 (3.11); its third-party
# packages live in a directory bound read-only into every jail.
$(SANDBOX_ENV)/.installed: sandbox/requirements.txt $(VENV)/.installed
	rm -rf $(SANDBOX_ENV)
	$(PIP) install --quiet --only-binary=:all: --target $(SANDBOX_ENV) -r sandbox/requirements.txt
	touch $@

sandbox-env: $(SANDBOX_ENV)/.installed

# PostgreSQL's binaries for the storage tests, which start a throwaway
# cluster on a free loopback port and stop it at the end of the run.
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
postgres:
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || { \
	  echo "installing PostgreSQL from Debian's packages"; \
	  $(SUDO) apt-get update -qq && \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql; }

# A local CA, a certificate for the services and one per tenant, for TLS
# and mTLS in development (production certificates come from your PKI).
CERTS_DIR ?= certs
CERT_TENANTS ?= acme globex
certs: $(VENV)/.installed
	$(PY) -m services.common.certs --out $(CERTS_DIR) $(addprefix --tenant ,$(CERT_TENANTS))

# --- contracts --------------------------------------------------------------
proto: $(VENV)/.installed
	rm -f $(GEN_PKG)/*_pb2*.py $(GEN_PKG)/*_pb2*.pyi
	PATH=$(abspath $(VENV))/bin:$$PATH $(PY) -m grpc_tools.protoc -I$(PROTO_DIR) \
	  --python_out=$(GEN_DIR) --mypy_out=$(GEN_DIR) \
	  --grpc_python_out=$(GEN_DIR) --mypy_grpc_out=$(GEN_DIR) $(PROTO_SRC)

# Fails when the checked-in generated code differs from what the protos give.
proto-check: $(VENV)/.installed
	@tmp=$$(mktemp -d); trap 'rm -rf $$tmp' EXIT; \
	PATH=$(abspath $(VENV))/bin:$$PATH $(PY) -m grpc_tools.protoc -I$(PROTO_DIR) \
	  --python_out=$$tmp --mypy_out=$$tmp --grpc_python_out=$$tmp --mypy_grpc_out=$$tmp \
	  $(PROTO_SRC) >/dev/null 2>&1; \
	for f in $$tmp/codeact/v1/*; do \
	  cmp -s $$f $(GEN_PKG)/$$(basename $$f) || { echo "stale generated code: $(GEN_PKG)/$$(basename $$f); run 'make proto'"; exit 1; }; \
	done; \
	for f in $(GEN_PKG)/*_pb2*; do \
	  test -e $$tmp/codeact/v1/$$(basename $$f) || { echo "orphan generated file: $$f; run 'make proto'"; exit 1; }; \
	done; echo "generated code is up to date"

# --- quality ----------------------------------------------------------------
lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy services sandbox clients/python/codeact bench tests
	$(VENV)/bin/buf lint
	$(MAKE) --no-print-directory proto-check

format: $(VENV)/.installed
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

test: $(VENV)/.installed $(SANDBOX_ENV)/.installed postgres
	CODEACT_REQUIRE_POSTGRES=1 $(PY) -m pytest -q

# --- running ----------------------------------------------------------------
demo: $(VENV)/.installed $(SANDBOX_ENV)/.installed
	$(PY) -m codeact.examples.demo

up: $(VENV)/.installed $(SANDBOX_ENV)/.installed
	$(VENV)/bin/codeact-server up --dev

bench: $(VENV)/.installed $(SANDBOX_ENV)/.installed
	$(PY) bench/executor_bench.py
	$(PY) bench/policy_bench.py
	$(PY) bench/memory_bench.py
	$(PY) bench/agent_bench.py

clean:
	rm -rf $(VENV) .sandbox .pytest_cache .mypy_cache .ruff_cache build *.egg-info
