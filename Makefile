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

K8S_OVERLAYS := dev production
K8S_DIR := deploy/k8s
K8S_VERSION ?= 1.31.0

.PHONY: k8s all venv sandbox-env postgres certs node-deps go-deps proto proto-python proto-check proto-node proto-go lint format test test-python test-node test-go demo bench soak up clean

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

# Node for the TypeScript client (npm ci from its lock file).
NODE_DIR := clients/node
$(NODE_DIR)/node_modules/.installed: $(NODE_DIR)/package.json $(NODE_DIR)/package-lock.json
	@command -v npm >/dev/null || { echo "installing Node.js from Debian's packages"; \
	  $(SUDO) apt-get update -qq && $(SUDO) env DEBIAN_FRONTEND=noninteractive \
	  apt-get install -y -qq --no-install-recommends nodejs npm; }
	cd $(NODE_DIR) && npm ci --no-audit --no-fund --loglevel=error
	touch $@

node-deps: $(NODE_DIR)/node_modules/.installed

# Go and gRPC for the Go client, from Debian's packages: it builds offline in
# GOPATH mode against /usr/share/gocode.
GO_DIR := clients/go
GO_PACKAGES := golang-go golang-google-grpc-dev golang-google-protobuf-dev \
  golang-github-golang-protobuf-1-5-dev protobuf-compiler protoc-gen-go protoc-gen-go-grpc
GOPATH_DIR := $(abspath .gopath)
GO_ENV := GO111MODULE=off GOPATH=$(GOPATH_DIR):/usr/share/gocode GOCACHE=$(GOPATH_DIR)/cache
go-deps:
	@command -v go >/dev/null && command -v protoc-gen-go-grpc >/dev/null \
	  && test -d /usr/share/gocode/src/google.golang.org/grpc || { \
	  echo "installing Go and gRPC from Debian's packages"; \
	  $(SUDO) apt-get update -qq && \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(GO_PACKAGES); }
	mkdir -p $(GOPATH_DIR)/src/codeact.dev
	ln -sfn $(abspath $(GO_DIR)) $(GOPATH_DIR)/src/codeact.dev/client

# --- contracts --------------------------------------------------------------
proto: proto-python proto-node proto-go

proto-python: $(VENV)/.installed
	rm -f $(GEN_PKG)/*_pb2*.py $(GEN_PKG)/*_pb2*.pyi
	PATH=$(abspath $(VENV))/bin:$$PATH $(PY) -m grpc_tools.protoc -I$(PROTO_DIR) \
	  --python_out=$(GEN_DIR) --mypy_out=$(GEN_DIR) \
	  --grpc_python_out=$(GEN_DIR) --mypy_grpc_out=$(GEN_DIR) $(PROTO_SRC)

# The TypeScript and Go clients' generated code (checked in, like Python's;
# `make proto` regenerates all three).
proto-node: $(VENV)/.installed node-deps
	rm -rf $(NODE_DIR)/src/gen
	cd $(NODE_DIR) && PATH=$(abspath $(VENV))/bin:$$PATH npm run --silent generate

# protoc for Go into a directory: every .proto maps to package codeactv1.
empty :=
space := $(empty) $(empty)
GO_OPT := module=codeact.dev/client$(subst $(space),,$(foreach f,$(PROTO_SRC:$(PROTO_DIR)/%=%),,M$(f)=codeact.dev/client/codeactv1))
go_protoc = protoc -I$(PROTO_DIR) --go_out=$(1) --go_opt=$(GO_OPT) \
  --go-grpc_out=$(1) --go-grpc_opt=$(GO_OPT) $(PROTO_SRC)

proto-go: go-deps
	rm -f $(GO_DIR)/codeactv1/*.pb.go
	$(call go_protoc,$(GO_DIR))

# Fails when the checked-in generated code differs from what the protos give.
proto-check: $(VENV)/.installed node-deps go-deps
	@tmp=$$(mktemp -d); trap 'rm -rf $$tmp' EXIT; \
	PATH=$(abspath $(VENV))/bin:$$PATH $(PY) -m grpc_tools.protoc -I$(PROTO_DIR) \
	  --python_out=$$tmp --mypy_out=$$tmp --grpc_python_out=$$tmp --mypy_grpc_out=$$tmp \
	  $(PROTO_SRC) >/dev/null 2>&1; \
	for f in $$tmp/codeact/v1/*; do \
	  cmp -s $$f $(GEN_PKG)/$$(basename $$f) || { echo "stale generated code: $(GEN_PKG)/$$(basename $$f); run 'make proto'"; exit 1; }; \
	done; \
	for f in $(GEN_PKG)/*_pb2*; do \
	  test -e $$tmp/codeact/v1/$$(basename $$f) || { echo "orphan generated file: $$f; run 'make proto'"; exit 1; }; \
	done; echo "generated Python is up to date"
	@tmp=$$(mktemp -d); trap 'rm -rf $$tmp' EXIT; \
	(cd $(NODE_DIR) && PATH=$(abspath $(VENV))/bin:$$PATH buf generate ../../protos \
	  --template buf.gen.yaml -o $$tmp) && \
	diff -r $$tmp/src/gen $(NODE_DIR)/src/gen >/dev/null || { echo "stale $(NODE_DIR)/src/gen; run 'make proto'"; exit 1; }; \
	$(call go_protoc,$$tmp) && \
	diff -r $$tmp/codeactv1 $(GO_DIR)/codeactv1 >/dev/null || { echo "stale $(GO_DIR)/codeactv1; run 'make proto'"; exit 1; }; \
	echo "generated TypeScript and Go are up to date"

# --- quality ----------------------------------------------------------------
lint: $(VENV)/.installed go-deps
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy services sandbox clients/python/codeact bench tests
	$(VENV)/bin/buf lint
	@test -z "$$(gofmt -l $(GO_DIR)/*.go $(GO_DIR)/example)" || { gofmt -l $(GO_DIR); exit 1; }
	$(MAKE) --no-print-directory proto-check

format: $(VENV)/.installed
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

test: test-python test-node test-go

test-python: $(VENV)/.installed $(SANDBOX_ENV)/.installed postgres
	CODEACT_REQUIRE_POSTGRES=1 $(PY) -m pytest -q

# The Node and Go suites start their own stack (codeact-server up from .venv).
test-node: $(VENV)/.installed $(SANDBOX_ENV)/.installed node-deps
	cd $(NODE_DIR) && npm test --silent

test-go: $(VENV)/.installed $(SANDBOX_ENV)/.installed go-deps
	cd $(GOPATH_DIR)/src/codeact.dev/client && $(GO_ENV) go vet ./... && $(GO_ENV) go test -count=1 ./...

# --- deployment -------------------------------------------------------------
# Render every overlay (and the tenant template) and validate it against the
# Kubernetes schemas, offline. Production renders with example secrets,
# which are removed again (real ones are yours to create, never committed).
k8s: $(VENV)/.installed
	@command -v kubectl >/dev/null || { echo "kubectl is needed (it renders kustomize)"; exit 1; }
	@mkdir -p build/k8s; prod=$(K8S_DIR)/overlays/production; made=""; \
	if [ ! -d $$prod/secrets ]; then cp -r $$prod/secrets.example $$prod/secrets; made=1; fi; \
	status=0; \
	for overlay in $(K8S_OVERLAYS); do \
	  kubectl kustomize $(K8S_DIR)/overlays/$$overlay > build/k8s/$$overlay.yaml || status=1; \
	done; \
	kubectl kustomize $(K8S_DIR)/tenant-template > build/k8s/tenant-template.yaml || status=1; \
	if [ -n "$$made" ]; then rm -rf $$prod/secrets; fi; \
	test $$status = 0 || exit 1; \
	$(VENV)/bin/kubernetes-validate --strict --quiet -k $(K8S_VERSION) build/k8s/*.yaml && \
	echo "rendered and valid: $(addprefix build/k8s/,$(addsuffix .yaml,$(K8S_OVERLAYS))) build/k8s/tenant-template.yaml"

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
	$(PY) bench/system_bench.py --clients 8 --seconds 20

# The system harness for ten minutes (bench/report.md).
soak: $(VENV)/.installed $(SANDBOX_ENV)/.installed
	$(PY) bench/system_bench.py --clients 16 --seconds 600

clean:
	rm -rf $(VENV) .sandbox .pytest_cache .mypy_cache .ruff_cache build *.egg-info
