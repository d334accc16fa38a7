"""Every metric the service exports, declared once so rules and dashboards have one source of truth.

Metric objects live in the default registry. When ``PROMETHEUS_MULTIPROC_DIR`` is set before this
module is imported, prometheus-client writes them to per-process files and the endpoint in
``router.py`` merges them; gauges therefore declare how values of several processes combine.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

# Bucket edges are chosen so the targets sit exactly on an edge: histogram_quantile interpolates
# inside a bucket, so a target between edges could be reported as met when it is not.
HTTP_BUCKETS: tuple[float, ...] = (
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
)  # fmt: skip
"""API target P95 < 50 ms (edge 0.05); alert threshold 1 s (edge 1.0)."""

RAG_BUCKETS: tuple[float, ...] = (
    0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.3, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0,
)  # fmt: skip
"""RAG target P95 < 200 ms (edge 0.2)."""

SEARCH_BUCKETS: tuple[float, ...] = (
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.5, 1.0, 2.5,
)  # fmt: skip
BATCH_BUCKETS: tuple[float, ...] = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)

RAG_STAGES: tuple[str, ...] = ("embed", "search", "rerank", "llm_ttft", "total")
CONFIDENCE_LEVELS: tuple[str, ...] = ("high", "medium", "low", "none")
CACHE_RESULTS: tuple[str, ...] = ("hit", "miss", "error")  # error: backend failed, served as a miss
POOL_STATES: tuple[str, ...] = ("in_use", "idle", "waiting")

# --- HTTP -------------------------------------------------------------------------------------
HTTP_REQUEST_DURATION = Histogram(
    "http_request_duration_seconds",
    "HTTP request latency until the response is fully sent, by route template.",
    ["route", "method", "status"],
    buckets=HTTP_BUCKETS,
)
HTTP_REQUESTS = Counter(
    "http_requests",
    "HTTP requests completed, by route template, method and status code.",
    ["route", "method", "status"],
)

# --- RAG --------------------------------------------------------------------------------------
RAG_QUERY_DURATION = Histogram(
    "rag_query_duration_seconds",
    "RAG query latency per stage (embed, search, rerank, llm_ttft, total).",
    ["stage"],
    buckets=RAG_BUCKETS,
)
RAG_QUERIES = Counter(
    "rag_queries",
    "RAG queries answered, by outcome (ok, no_context, error, cancelled).",
    ["outcome"],
)
RAG_ANSWER_CONFIDENCE = Counter(
    "rag_answer_confidence",
    "RAG answers by confidence level.",
    ["level"],
)

# --- Caches -----------------------------------------------------------------------------------
CACHE_REQUESTS = Counter(
    "cache_requests",
    "Cache look-ups by layer (embedding, search, answer) and result (hit, miss, error).",
    ["layer", "result"],
)

# --- Search -----------------------------------------------------------------------------------
VECTOR_SEARCH_DURATION = Histogram(
    "vector_search_duration_seconds",
    "Vector leg of a hybrid search (HNSW, iterative or exact scan per the scope's plan), "
    "round trip included.",
    buckets=SEARCH_BUCKETS,
)
FTS_SEARCH_DURATION = Histogram(
    "fts_search_duration_seconds",
    "Lexical (BM25 over PostgreSQL full-text search) leg of a hybrid search.",
    buckets=SEARCH_BUCKETS,
)

SEARCH_LEGS: tuple[str, ...] = ("vector", "lexical")
SEARCH_RECALL_FOUND = Counter(
    "search_recall_found",
    "Live recall: results of a sampled search's leg that exact search also ranks in its top 10.",
    ["leg"],
)
SEARCH_RECALL_EXPECTED = Counter(
    "search_recall_expected",
    "Live recall: size of the exact top 10 the sampled searches were compared with "
    "(recall@10 = found / expected).",
    ["leg"],
)

# --- Admission --------------------------------------------------------------------------------
SHED_REASONS: tuple[str, ...] = ("queue_full", "wait_estimate", "wait_timeout")
RAG_SHED = Counter(
    "rag_shed",
    "Cold questions answered 503 overloaded because the cold path was saturated, by reason.",
    ["reason"],
)

# --- LLM --------------------------------------------------------------------------------------
LLM_REQUESTS = Counter(
    "llm_requests",
    "LLM completion requests by provider and outcome (ok, error, timeout, rate_limited).",
    ["provider", "outcome"],
)
LLM_FALLBACKS = Counter(
    "llm_fallbacks",
    "Times a request moved from a provider to the next one, by the provider left and why.",
    ["provider", "reason"],
)

# --- The practice tutor's tools --------------------------------------------------------------
TUTOR_TOOLS: tuple[str, ...] = (
    "search_knowledge_base",
    "get_user_context",
    "list_recordings",
    "get_performance_analysis",
    "unknown",
)
# error = the tool itself failed; the other non-ok outcomes are answers (nothing there, not yet
# analysed, the model's arguments didn't fit the schema) that the model reads and works with.
TUTOR_TOOL_OUTCOMES: tuple[str, ...] = (
    "ok", "not_found", "not_ready", "invalid_arguments", "error",
)  # fmt: skip
TUTOR_TOOL_CALLS = Counter(
    "tutor_tool_calls",
    "Tutor tool calls by tool and outcome (ok, not_found, not_ready, invalid_arguments, error).",
    ["tool", "outcome"],
)
TUTOR_TOOL_ROUNDS = Histogram(
    "tutor_tool_rounds",
    "Model turns that called tools, per tutor answer (0: answered directly or offline).",
    buckets=(0, 1, 2, 3, 4, 5, 6, 8),
)
TUTOR_PROVIDER_ERRORS = Counter(
    "tutor_provider_tool_call_errors",
    "Tutor model turns (with tools) that failed, by provider and reason (error, timeout).",
    ["provider", "reason"],
)

# --- Embeddings -------------------------------------------------------------------------------
EMBEDDING_REQUESTS = Counter(
    "embedding_requests",
    "Embedding batches requested, by provider and outcome.",
    ["provider", "outcome"],
)
EMBEDDING_BATCH_DURATION = Histogram(
    "embedding_batch_duration_seconds",
    "Time to embed one batch of texts.",
    ["provider"],
    buckets=BATCH_BUCKETS,
)

# --- Ingestion --------------------------------------------------------------------------------
INGESTION_JOBS = Counter(
    "ingestion_jobs",
    "Ingestion jobs finished, by outcome (succeeded, failed, retried).",
    ["outcome"],
)
INGESTION_CHUNKS = Counter("ingestion_chunks", "Chunks written to the knowledge base.")
# Every process samples the same queue table, so the most recent sample wins.
INGESTION_QUEUE_DEPTH = Gauge(
    "ingestion_queue_depth",
    "Ingestion jobs waiting to run.",
    multiprocess_mode="mostrecent",
)
INGESTION_OLDEST_JOB_AGE = Gauge(
    "ingestion_oldest_job_age_seconds",
    "Age of the oldest waiting ingestion job (0 when the queue is empty).",
    multiprocess_mode="mostrecent",
)

# --- Recordings and their analysis ------------------------------------------------------------
ANALYSIS_BUCKETS: tuple[float, ...] = (0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0)
RECORDING_UPLOADS = Counter(
    "recording_uploads",
    "Recording uploads by detected format (unknown before it is known) and outcome (accepted, "
    "or the refusal's error code).",
    ["format", "outcome"],
)
RECORDING_UPLOAD_BYTES = Counter(
    "recording_upload_bytes",
    "Audio bytes of accepted recording uploads.",
)
ANALYSIS_JOBS = Counter(
    "analysis_jobs",
    "Recording analysis jobs finished, by analyser and outcome (completed, failed, skipped, error).",
    ["analyzer", "outcome"],
)
ANALYSIS_DURATION = Histogram(
    "analysis_duration_seconds",
    "Time to analyse one recording (download, decode, analysis or the model service's answer).",
    ["analyzer"],
    buckets=ANALYSIS_BUCKETS,
)

# --- Practice feedback ------------------------------------------------------------------------
FEEDBACK_BUCKETS: tuple[float, ...] = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0)
FEEDBACK_MODES: tuple[str, ...] = ("template", "llm")
FEEDBACK_OUTCOMES: tuple[str, ...] = ("ok", "fallback", "error")
FEEDBACK_GENERATION_DURATION = Histogram(
    "feedback_generation_duration_seconds",
    "Time to write one feedback report (knowledge searches and, in llm mode, the model's "
    "answer), by mode (template, llm) and outcome (ok; fallback = the model failed and the "
    "template was used; error). Stored reports returned from storage are not counted.",
    ["mode", "outcome"],
    buckets=FEEDBACK_BUCKETS,
)

# --- Database ---------------------------------------------------------------------------------
# Each process owns its own pool, so connections add up across live processes.
DB_POOL_CONNECTIONS = Gauge(
    "db_pool_connections",
    "Connections of this service's pool by state (in_use, idle, waiting = clients queued).",
    ["state"],
    multiprocess_mode="livesum",
)
DB_POOL_MAX = Gauge(
    "db_pool_max_connections",
    "Configured pool maximum, summed over live processes.",
    multiprocess_mode="livesum",
)
DB_UP = Gauge(
    "db_up",
    "1 if the last database probe succeeded, 0 if it failed.",
    multiprocess_mode="mostrecent",
)
DB_INDEX_SIZE = Gauge(
    "db_index_size_bytes",
    "On-disk size of each index in the application schema, by index access method.",
    ["index", "method"],
    multiprocess_mode="mostrecent",
)
DB_INDEX_HIT_RATIO = Gauge(
    "db_index_hit_ratio",
    "Share of index block reads served from shared buffers since the stats were reset.",
    multiprocess_mode="mostrecent",
)
DB_SLOW_QUERIES = Gauge(
    "db_slow_queries",
    "Queries currently running longer than the slow-query threshold.",
    multiprocess_mode="mostrecent",
)

# --- Build ------------------------------------------------------------------------------------
BUILD_INFO = Gauge(
    "build_info",
    "Always 1; labels carry the running build.",
    ["version", "environment"],
    multiprocess_mode="max",
)


def set_build_info(version: str, environment: str) -> None:
    """Publish the running build; call once at start-up."""
    BUILD_INFO.labels(version=version, environment=environment).set(1)


def record_cache(layer: str, result: str) -> None:
    """The one writer of cache_requests: `result` is one of CACHE_RESULTS, which hit-rate
    queries and the primed series rely on."""
    CACHE_REQUESTS.labels(layer=layer, result=result).inc()


def prime_label_sets(
    *,
    llm_providers: tuple[str, ...] = (),
    embedding_providers: tuple[str, ...] = (),
    cache_layers: tuple[str, ...] = (),
) -> None:
    """Create the known label combinations at zero.

    A series that does not exist yet makes ``rate()`` return nothing instead of 0, so ratios and
    dashboards would show "no data" until the first event; priming keeps them continuous.
    """
    for stage in RAG_STAGES:
        RAG_QUERY_DURATION.labels(stage=stage)
    for outcome in ("ok", "no_context", "error"):
        RAG_QUERIES.labels(outcome=outcome)
    for level in CONFIDENCE_LEVELS:
        RAG_ANSWER_CONFIDENCE.labels(level=level)
    for leg in SEARCH_LEGS:
        SEARCH_RECALL_FOUND.labels(leg=leg)
        SEARCH_RECALL_EXPECTED.labels(leg=leg)
    for reason in SHED_REASONS:
        RAG_SHED.labels(reason=reason)
    for state in POOL_STATES:
        DB_POOL_CONNECTIONS.labels(state=state)
    for mode in FEEDBACK_MODES:
        for outcome in FEEDBACK_OUTCOMES:
            FEEDBACK_GENERATION_DURATION.labels(mode=mode, outcome=outcome)
    for outcome in ("succeeded", "failed"):
        INGESTION_JOBS.labels(outcome=outcome)
    for tool in TUTOR_TOOLS:
        for outcome in TUTOR_TOOL_OUTCOMES:
            TUTOR_TOOL_CALLS.labels(tool=tool, outcome=outcome)
    for provider in llm_providers:
        for outcome in ("ok", "error"):
            LLM_REQUESTS.labels(provider=provider, outcome=outcome)
        LLM_FALLBACKS.labels(provider=provider, reason="error")
        TUTOR_PROVIDER_ERRORS.labels(provider=provider, reason="error")
    for provider in embedding_providers:
        for outcome in ("ok", "error"):
            EMBEDDING_REQUESTS.labels(provider=provider, outcome=outcome)
        EMBEDDING_BATCH_DURATION.labels(provider=provider)
    for layer in cache_layers:
        for result in CACHE_RESULTS:
            CACHE_REQUESTS.labels(layer=layer, result=result)
