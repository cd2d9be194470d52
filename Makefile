# Fishbridge: `make run` (whole suite locally, no Docker), `make test` (everything CI runs), `make up` (docker compose).
SHELL := /bin/bash
.DEFAULT_GOAL := help
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | sha256sum | cut -c1-12)
PYTEST_ARGS ?=

.PHONY: help venv infra infra-stop infra-status test test-unit test-integration lint fmt typecheck run stop up down demo bench trace clean

help:
	@echo "make run | stop  start (in the background) | stop the services locally, infrastructure included (no Docker)"
	@echo "make test        install what is missing, start the infrastructure, run every test"
	@echo "make test-unit   unit tests only (no infrastructure)"
	@echo "make up | down   the docker compose stack"
	@echo "make infra | infra-stop | infra-status   RabbitMQ, FerretDB and Jaeger without Docker"
	@echo "make trace TRACE_ID=<id>   print a Jaeger trace as an indented waterfall (TRACE_ARGS='--wait 10', --json, --width N)"
	@echo "make demo        against \`make run\`: both stories through the gateway, step by step with trace ids, the"
	@echo "                 ledger check, a summary per story and the checkout's waterfall (DEMO_ARGS='--help')"
	@echo "make lint | fmt | typecheck | bench"

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "$(PYTHON) is required"; exit 1; }
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	@rm -f $(VENV)/.installed-*; touch $@

venv: $(STAMP)

infra: venv
	PYTHON=$(abspath $(PY)) deploy/infra.sh start

infra-stop:
	deploy/infra.sh stop

infra-status:
	deploy/infra.sh status

test: infra
	$(PY) -m pytest $(PYTEST_ARGS)

test-unit: venv
	$(PY) -m pytest tests/unit $(PYTEST_ARGS)

test-integration: infra
	$(PY) -m pytest tests/integration $(PYTEST_ARGS)

lint: venv
	$(VENV)/bin/ruff check shared services tests bench
	$(VENV)/bin/ruff format --check shared services tests bench

fmt: venv
	$(VENV)/bin/ruff format shared services tests bench
	$(VENV)/bin/ruff check --fix shared services tests bench

typecheck: venv
	$(VENV)/bin/mypy

run: infra
	PYTHON=$(abspath $(PY)) deploy/run.sh start

stop:
	deploy/run.sh stop

up:
	docker compose up -d --build

down:
	docker compose down

# Against a running suite (`make run`): both stories through the gateway, their traces, the ledger check, a summary.
# DEMO_ARGS passes options, e.g. DEMO_ARGS='--gateway http://127.0.0.1:8080' (python -m services.demo --help).
DEMO_ARGS ?=
demo: venv
	$(PY) -m services.demo $(DEMO_ARGS)

# BENCH_ARGS='--suite-only' measures only the suite-level figures; '--checkout-s 20' shortens the checkout load.
BENCH_ARGS ?=
bench: infra
	$(PY) -m bench.run $(BENCH_ARGS)

# Reads Jaeger at $$JAEGER_API (default http://127.0.0.1:16686); TRACE_ARGS passes options, e.g. TRACE_ARGS='--wait 10'.
TRACE_ARGS ?=
trace: venv
	@test -n "$(TRACE_ID)" || { echo "usage: make trace TRACE_ID=<32 hex characters> [TRACE_ARGS='--wait 10 --json']" >&2; exit 2; }
	@$(PY) -m services.tracecli $(TRACE_ARGS) "$(TRACE_ID)"

clean: stop infra-stop
	deploy/infra.sh clean
