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
	$(PIP) install --progress-bar on $(if $(wildcard $(LOCK)),-c $(LOCK)) -e '.[dev]'
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
	$(VENV)/bin/ruff check service tests dashboards
	$(VENV)/bin/ruff format --check service tests dashboards

typecheck: install ## mypy
	$(VENV)/bin/mypy service tests

fmt: install ## Format and auto-fix
	$(VENV)/bin/ruff format service tests
	$(VENV)/bin/ruff check --fix service tests

test-python: install
	$(PY) -m pytest -n 2 tests

test: lint typecheck test-monitoring test-python ## Everything CI runs

# --- Monitoring as code (issue 8) ------------------------------------------------------------
.PHONY: promtool test-monitoring dashboards

promtool: ## Install promtool (Debian's prometheus package) if it is missing
	@command -v promtool >/dev/null || { \
	  echo "==> installing Debian's prometheus for promtool"; \
	  apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends prometheus; }

test-monitoring: install promtool ## promtool check + unit tests of the alert rules, dashboard golden check
	promtool check rules dashboards/prometheus/rules/*.yml
	promtool check config --syntax-only dashboards/prometheus/prometheus.yml
	cd dashboards/prometheus && promtool test rules tests/*.yml
	$(PY) -m dashboards.generate --check

dashboards: install ## Regenerate dashboards/grafana/*.json from dashboards/generate.py
	$(PY) -m dashboards.generate

.PHONY: drill-backup-restore drill-reembed drill-key-rotation drills
drill-backup-restore: install ## Drill: pg_dump -> pg_restore into a scratch DB, prove equality (DATABASE_URL or embedded)
	$(PY) -m service.ops.drills.backup_restore

drill-reembed: install ## Drill: re-embed into a new model's HNSW index while searches run, then switch
	$(PY) -m service.ops.drills.reembed

drill-key-rotation: install ## Drill: rotate the JWT signing key under load across two API instances; no request may fail
	$(PY) -m service.ops.drills.key_rotation

drills: drill-backup-restore drill-key-rotation drill-reembed ## Run every drill against the local environment
