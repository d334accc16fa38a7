# Two commands matter: `make up` (local stack) and `make test` (everything CI checks).
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
STAMP := $(VENV)/.installed
LOCK := requirements.lock
WORKER_STAMP := worker/node_modules/.installed

.PHONY: help install up reset migrate admin test test-python test-infra lint typecheck fmt worker-install test-worker openapi fuzz release

help: ## List targets
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-18s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml $(wildcard $(LOCK))
	@command -v $(PYTHON) >/dev/null || { echo "need $(PYTHON) on PATH"; exit 1; }
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@echo "==> installing Python dependencies into $(VENV) (first run takes a few minutes)"
	$(PIP) install --progress-bar on -q --upgrade pip==25.3
	$(PIP) install --progress-bar on $(if $(wildcard $(LOCK)),-c $(LOCK)) -e '.[dev,eval,infra,loadtest]'
	@touch $(STAMP)

install: $(STAMP) ## Create .venv and install pinned dependencies

up: install $(WORKER_STAMP) ## Start the local stack in the foreground (Ctrl-C stops it)
	$(PY) -m devtools.devstack up

reset: install ## Stop nothing, wipe local data under .local/
	$(PY) -m devtools.devstack reset

migrate: install ## Apply database migrations (DATABASE_URL or the embedded server)
	$(PY) -m devtools.devstack migrate

admin: install ## Promote a user to admin: make admin EMAIL=someone@example.com
	@test -n "$(EMAIL)" || { echo "usage: make admin EMAIL=..."; exit 2; }
	$(PY) -m devtools.devstack admin "$(EMAIL)"

lint: install ## ruff
	$(VENV)/bin/ruff check service tests infra dashboards loadtest devtools
	$(VENV)/bin/ruff format --check service tests infra dashboards loadtest devtools

typecheck: install ## mypy
	$(VENV)/bin/mypy service devtools tests loadtest
	$(VENV)/bin/mypy --explicit-package-bases infra/piano_infra infra/__main__.py
	cd infra/policypack && ../../$(VENV)/bin/mypy --config-file ../../pyproject.toml piano_policies __main__.py

fmt: install ## Format and auto-fix
	$(VENV)/bin/ruff format service tests infra dashboards loadtest devtools
	$(VENV)/bin/ruff check --fix service tests infra dashboards loadtest devtools

# test_alertmanager.py runs in test-monitoring, next to the amtool/alertmanager it needs.
test-python: install $(WORKER_STAMP)
	$(PY) -m pytest -n 2 tests --ignore=tests/infra --ignore=tests/observability/test_alertmanager.py

test-infra: install amtool ## Pulumi program mock tests and policy-pack tests (no cloud access)
	$(PY) -m pytest -q tests/infra

release: install $(WORKER_STAMP) ## Build a release into dist/release/VERSION: make release VERSION=1.4.0 [STACK=dev]
	@test -n "$(VERSION)" || { echo "usage: make release VERSION=1.4.0 [STACK=dev]"; exit 2; }
	$(PY) -m devtools.release "$(VERSION)" $(if $(STACK),--stack "$(STACK)")

openapi: install ## Re-pin the API contract (tests/contract/openapi.json) after a deliberate API change
	$(PY) -m tests.contract.test_openapi_pin

test: lint typecheck test-infra test-monitoring test-python test-worker ## Everything CI runs

FUZZ_EXAMPLES ?= 200
fuzz: install ## Fuzz every API operation longer than make test does (FUZZ_EXAMPLES per operation)
	FUZZ_MAX_EXAMPLES=$(FUZZ_EXAMPLES) $(PY) -m pytest -n 2 -q tests/fuzz

# --- Edge Worker (worker/): pinned npm packages, tests inside workerd via Miniflare ---

$(WORKER_STAMP): worker/package-lock.json
	@command -v npm >/dev/null || { echo "need node (>= 20) and npm on PATH"; exit 1; }
	cd worker && npm ci --no-audit --no-fund
	@touch $(WORKER_STAMP)

worker-install: $(WORKER_STAMP) ## Install the edge Worker's pinned npm packages (npm ci)

test-worker: install $(WORKER_STAMP) ## Edge Worker tests inside workerd (node --test + Miniflare; moto from .venv)
	cd worker && npm test

# --- knowledge base and ingestion ---
.PHONY: seed worker bench-ingest bench-ratelimit bench-question-reads bench-recordings bench-chunker

seed: install ## Load the demo books (../shared/corpus) and process them, printing progress
	$(PY) -m devtools.devstack seed

worker: install ## Run one ingestion worker (production runs `python -m service.worker`)
	$(PY) -m devtools.devstack worker

bench-ingest: install ## Ingest the corpus; pages/s, chunks/s, embeddings/s to loadtest/results/
	$(PY) -m loadtest.bench_ingest

bench-ratelimit: install ## What the PostgreSQL rate limiter costs per request -> loadtest/results/
	$(PY) -m loadtest.bench_ratelimit

bench-question-reads: install ## A question's caller, charges and scope reads: one by one, in two steps, in one round trip -> loadtest/results/
	$(PY) -m loadtest.bench_question_reads

bench-recordings: install $(WORKER_STAMP) ## Recording uploads (20 MB, edge and direct), analysis s per audio minute, worker peak memory -> loadtest/results/
	$(PY) -m loadtest.bench_recordings $(if $(REPEATS),--repeats $(REPEATS))

bench-chunker: install ## Chunking time and tokenizer work on 5 MB pathological texts -> loadtest/results/
	$(PY) -m loadtest.bench_chunker

# --- Monitoring as code (dashboards/): Prometheus rules and their tests, Grafana dashboards ---
.PHONY: promtool amtool test-monitoring dashboards

promtool: ## Install promtool (Debian's prometheus package) if it is missing
	@command -v promtool >/dev/null || { \
	  echo "==> installing Debian's prometheus for promtool"; \
	  apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends prometheus; }

# The same upstream series the Prometheus VM installs (infra/piano_infra/monitoring.py).
ALERTMANAGER_DEB := 0.25.0-*
amtool: ## Install amtool and alertmanager (Debian's prometheus-alertmanager package) if missing
	@command -v amtool >/dev/null && command -v prometheus-alertmanager >/dev/null || { \
	  echo "==> installing Debian's prometheus-alertmanager for amtool"; \
	  apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
	    'prometheus-alertmanager=$(ALERTMANAGER_DEB)'; }

test-monitoring: install promtool amtool ## promtool/amtool checks, unit tests of the alert rules, alert routing, dashboard golden check
	promtool check rules dashboards/prometheus/rules/*.yml
	amtool check-config dashboards/alertmanager/alertmanager.yml
	promtool check config --syntax-only dashboards/prometheus/prometheus.yml
	cd dashboards/prometheus && promtool test rules tests/*.yml
	$(PY) -m pytest -q -p no:cacheprovider tests/observability/test_alertmanager.py
	$(PY) -m dashboards.generate --check

dashboards: install ## Regenerate dashboards/grafana/*.json from dashboards/generate.py
	$(PY) -m dashboards.generate

.PHONY: drill-backup-restore drill-reembed drill-key-rotation drill-db-outage drills
drill-backup-restore: install ## Drill: pg_dump -> pg_restore into a scratch DB, prove equality (DATABASE_URL or embedded)
	$(PY) -m devtools.drills.backup_restore

drill-reembed: install ## Drill: re-embed into a new model's HNSW index while searches run, then switch
	$(PY) -m devtools.drills.reembed

drill-key-rotation: install ## Drill: rotate the JWT signing key under load across two API instances; no request may fail
	$(PY) -m devtools.drills.key_rotation

drill-db-outage: install ## Drill: stop PostgreSQL 2 min under load; fast 503s, /api/live up, recovery within 10 s, worker rides it out
	$(PY) -m devtools.drills.db_outage $(if $(OUTAGE_SECONDS),--outage-seconds $(OUTAGE_SECONDS))

drills: drill-backup-restore drill-key-rotation drill-reembed drill-db-outage ## Run every drill against the local environment

.PHONY: faults
faults: install ## Fault tests on demand (also in make test): worker SIGKILL, storage outage, LLM hang, poison documents
	$(PY) -m pytest -q tests/ingest/test_worker_recovery.py tests/ingest/test_ingest_limits.py \
		tests/ingest/test_web_fetch.py tests/projects/test_storage_outage.py \
		tests/projects/test_confirm_pool.py "tests/retrieval/test_answers.py::test_provider_stream_and_fallback"

# --- retrieval and answers ---
.PHONY: eval

eval: install ## Retrieval eval: query sets, 100k ANN recall per role, ef_search sweep -> loadtest/results/eval-*/
	$(PY) -m devtools.evals --all

.PHONY: bench-embed bench-rerank
bench-embed: install ## Local embedding models: query latency, passages/s, agreement -> loadtest/results/embedding-bench.md
	$(PY) -m devtools.evals.embedding_bench

bench-rerank: install ## Our side of the Workers AI re-ranker's cost per question (needs make eval's corpus) -> loadtest/results/rerank-cost.md
	$(PY) -m devtools.evals.rerank_cost

# --- performance gates (loadtest/) ---------------------------------------------------------------
# make loadtest                      full spec shape (14 min, 100 users) against the local stack
# make loadtest HOST=https://...     any environment (corpus left alone there)
# make loadtest PROFILE=stress       2x users: graceful degradation (shed 429/503, no silent timeouts)
# make loadtest PROFILE=capacity     100 users at 1 s think time, then new questions stepped up until
#                                    P95 passes 200 ms: the highest rate that held (loadtest/capacity.py)
# make loadtest SCALE=0.1            same shape, 10x shorter; SCENARIO=rag-query|projects|annotations
.PHONY: loadtest loadtest-smoke
LOADTEST_ARGS = $(if $(HOST),--host $(HOST)) $(if $(PROFILE),--profile $(PROFILE)) \
	$(if $(SCENARIO),--scenario $(SCENARIO)) $(if $(SCALE),--scale $(SCALE)) \
	$(if $(THRESHOLDS),--thresholds $(THRESHOLDS))

loadtest: install ## Locust perf gate (spec shape) -> loadtest/results/<ts>/; exit 1 on a breach
	CORPUS_DIR=$${CORPUS_DIR:-$(CURDIR)/../shared/corpus} $(PY) -m loadtest.run $(LOADTEST_ARGS)

loadtest-smoke: install ## 30 s, 4 users, gated by loadtest/thresholds.toml (profile smoke)
	CORPUS_DIR=$${CORPUS_DIR:-$(CURDIR)/../shared/corpus} $(PY) -m loadtest.run --profile smoke $(LOADTEST_ARGS)
