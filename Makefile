# Two commands matter: `make up` (local stack) and `make test` (everything CI checks).
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
STAMP := $(VENV)/.installed
LOCK := requirements.lock

.PHONY: help install up reset migrate admin test test-python lint typecheck fmt

help: ## List targets
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-18s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml $(wildcard $(LOCK))
	@command -v $(PYTHON) >/dev/null || { echo "need $(PYTHON) on PATH"; exit 1; }
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@echo "==> installing Python dependencies into $(VENV) (first run takes a few minutes)"
	$(PIP) install --progress-bar on -q --upgrade pip==25.3
	$(PIP) install --progress-bar on $(if $(wildcard $(LOCK)),-c $(LOCK)) -e '.[dev,loadtest]'
	@touch $(STAMP)

install: $(STAMP) ## Create .venv and install pinned dependencies

up: install ## Start the local stack in the foreground (Ctrl-C stops it)
	$(PY) -m service.devstack up

reset: install ## Stop nothing, wipe local data under .local/
	$(PY) -m service.devstack reset

migrate: install ## Apply database migrations (DATABASE_URL or the embedded server)
	$(PY) -m service.devstack migrate

admin: install ## Promote a user to admin: make admin EMAIL=someone@example.com
	@test -n "$(EMAIL)" || { echo "usage: make admin EMAIL=..."; exit 2; }
	$(PY) -m service.devstack admin "$(EMAIL)"

lint: install ## ruff
	$(VENV)/bin/ruff check service tests loadtest
	$(VENV)/bin/ruff format --check service tests loadtest

typecheck: install ## mypy
	$(VENV)/bin/mypy service tests loadtest

fmt: install ## Format and auto-fix
	$(VENV)/bin/ruff format service tests loadtest
	$(VENV)/bin/ruff check --fix service tests loadtest

test-python: install
	$(PY) -m pytest -n 2 tests

test: lint typecheck test-python ## Everything CI runs

# --- knowledge base and ingestion ---
.PHONY: seed worker bench-ingest

seed: install ## Load the demo books (../shared/corpus) and process them, printing progress
	$(PY) -m service.devstack seed

worker: install ## Run one ingestion worker (production runs `python -m service.worker`)
	$(PY) -m service.devstack worker

bench-ingest: install ## Ingest the corpus; pages/s, chunks/s, embeddings/s to loadtest/results/
	$(PY) -m loadtest.bench_ingest

# --- performance gates (loadtest/) ---------------------------------------------------------------
# make loadtest                      full spec shape (14 min, 100 users) against the local stack
# make loadtest HOST=https://...     any environment (corpus left alone there)
# make loadtest PROFILE=stress       2x users: graceful degradation (shed 429/503, no silent timeouts)
# make loadtest SCALE=0.1            same shape, 10x shorter; SCENARIO=rag-query|projects|annotations
.PHONY: loadtest loadtest-smoke
LOADTEST_ARGS = $(if $(HOST),--host $(HOST)) $(if $(PROFILE),--profile $(PROFILE)) \
	$(if $(SCENARIO),--scenario $(SCENARIO)) $(if $(SCALE),--scale $(SCALE)) \
	$(if $(THRESHOLDS),--thresholds $(THRESHOLDS))

loadtest: install ## Locust perf gate (spec shape) -> loadtest/results/<ts>/; exit 1 on a breach
	CORPUS_DIR=$${CORPUS_DIR:-$(CURDIR)/../shared/corpus} $(PY) -m loadtest.run $(LOADTEST_ARGS)

loadtest-smoke: install ## 30 s, 4 users, gated by loadtest/thresholds.toml (profile smoke)
	CORPUS_DIR=$${CORPUS_DIR:-$(CURDIR)/../shared/corpus} $(PY) -m loadtest.run --profile smoke $(LOADTEST_ARGS)
