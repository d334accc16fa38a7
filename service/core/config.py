"""Settings come from the environment (and an optional .env file) so one build runs in every stack."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parents[2]


class Settings(BaseSettings):
    """Every field is documented in README.md and .env.example; keep the three in step."""

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    environment: Literal["local", "test", "dev", "staging", "prod"] = "local"
    build_version: str = "dev"
    log_level: str = "INFO"
    log_format: Literal["json", "console"] = "json"
    # Bearer token for GET /api/metrics (empty: open, for scrapes inside the VPC only; the edge blocks it).
    metrics_token: SecretStr = SecretStr("")
    metrics_sample_seconds: float = Field(default=15.0, gt=0)

    # Where `make up` keeps embedded PostgreSQL data, keys and object storage.
    local_dir: Path = REPO_ROOT / ".local"

    # Empty means "use the embedded pgserver" (make up / tests); production always sets it.
    database_url: str = ""
    db_pool_min_size: int = Field(default=2, ge=1)
    db_pool_max_size: int = Field(default=20, ge=1)
    db_pool_timeout_seconds: float = Field(default=5.0, gt=0)
    db_statement_timeout_ms: int = Field(default=15000, ge=0)

    api_host: str = "127.0.0.1"
    api_port: int = 8080
    # The edge Worker in workerd, in front of the API (make up). Needs Node.js and worker/ npm deps.
    edge_enabled: bool = True
    edge_port: int = 8787
    edge_rate_limit_per_minute: int = Field(default=100, ge=0)

    # --- Retrieval and answers (RAG, issue 5) -----------------------------------------------
    # The query embedder, Cloudflare account/token, ORIGIN_SHARED_SECRET and CORPUS_DIR are the
    # knowledge-base settings (EMBEDDING_*, CLOUDFLARE_ACCOUNT_ID, WORKERS_AI_*).
    # Candidates taken from each ranker before Reciprocal Rank Fusion, and the RRF constant.
    search_vector_candidates: int = Field(default=40, ge=1, le=500)
    search_fts_candidates: int = Field(default=40, ge=1, le=500)
    search_rrf_k: int = Field(default=60, ge=1)
    # HNSW ef_search for unfiltered scopes (100: recall@10 >= 0.99 at 100k in `make eval`); widened
    # for narrower scopes up to the max (pgvector < 0.8).
    search_ef_search: int = Field(default=100, ge=1, le=1000)
    search_ef_search_max: int = Field(default=1000, ge=1, le=1000)
    # Scopes smaller than this share of the model's chunks, or this many rows, are searched exactly.
    search_exact_scope_fraction: float = Field(default=0.05, ge=0, le=1)
    search_exact_scope_rows: int = Field(default=20000, ge=0)
    rerank_provider: Literal["none", "workers-ai"] = "none"
    rerank_model: str = "@cf/baai/bge-reranker-base"
    rerank_candidates: int = Field(default=20, ge=1, le=100)
    # LLM: extractive is the offline default and the fallback for every other provider.
    llm_provider: Literal["extractive", "workers-ai", "openai-compatible", "anthropic"] = (
        "extractive"
    )
    llm_timeout_seconds: float = Field(default=20.0, gt=0)
    llm_first_token_timeout_seconds: float = Field(default=8.0, gt=0)
    llm_max_tokens: int = Field(default=700, gt=0)
    llm_temperature: float = Field(default=0.2, ge=0, le=2)
    llm_history_messages: int = Field(default=4, ge=0, le=20)
    workers_ai_llm_model: str = "@cf/meta/llama-4-scout-17b-16e-instruct"
    llm_openai_base_url: str = "http://127.0.0.1:8000/v1"
    llm_openai_api_key: SecretStr = SecretStr("")
    llm_openai_model: str = ""
    anthropic_base_url: str = "https://api.anthropic.com"
    anthropic_api_key: SecretStr = SecretStr("")
    anthropic_model: str = "claude-3-5-haiku-latest"
    # Cache backend: postgres = UNLOGGED table in the app database (shared, no extra server);
    # memory = per process; none = off.
    cache_backend: Literal["postgres", "memory", "none"] = "postgres"
    cache_embedding_ttl_seconds: int = Field(default=24 * 3600, ge=0)
    cache_search_ttl_seconds: int = Field(default=3600, ge=0)
    cache_answer_ttl_seconds: int = Field(default=24 * 3600, ge=0)

    auth_provider: Literal["local", "supabase"] = "local"
    # PEM of the RS256 signing key. If empty, jwt_private_key_file is used (generated on first run).
    jwt_private_key: SecretStr = SecretStr("")
    jwt_private_key_file: Path | None = None
    # Extra public keys accepted for verification during a key rotation: a PEM bundle (production,
    # from Secret Manager) and/or every *.pem in a directory (default <local_dir>/keys/accepted).
    jwt_accepted_public_keys: str = ""
    jwt_accepted_keys_dir: Path | None = None
    # How often file-based keys are re-read, so a rotation needs no restart (0 disables).
    jwt_key_reload_seconds: float = Field(default=5.0, ge=0)
    jwt_issuer: str = "piano-platform"
    jwt_audience: str = "piano-api"
    access_token_ttl_seconds: int = Field(default=3600, gt=0)
    refresh_token_ttl_seconds: int = Field(default=7 * 24 * 3600, gt=0)
    jwt_leeway_seconds: int = Field(default=30, ge=0)

    supabase_jwks_url: str = ""
    supabase_issuer: str = ""
    supabase_audience: str = "authenticated"

    # --- Knowledge base and ingestion (issue 4) ---
    # Embedding provider: local (sentence-transformers, offline), workers-ai (Cloudflare REST),
    # openai-compatible (POST {base}/embeddings). Model/dimensions default per provider when empty/0.
    embedding_provider: Literal["local", "workers-ai", "openai-compatible"] = "local"
    embedding_model: str = ""
    embedding_dimensions: int = Field(default=0, ge=0)
    # The model's own input limit in its tokens; 0 = the provider's known default.
    embedding_max_tokens: int = Field(default=0, ge=0)
    embedding_batch_size: int = Field(default=50, ge=1, le=100)
    embedding_max_attempts: int = Field(default=5, ge=1, le=10)
    embedding_backoff_seconds: float = Field(default=0.5, ge=0)
    embedding_timeout_seconds: float = Field(default=30.0, gt=0)
    # RAG queries in flight per API process before new ones get 503 `overloaded` (0: no limit).
    rag_max_in_flight: int = Field(default=32, ge=0)
    # Load a local embedding model when the API starts (in the background) instead of on the first query.
    embedding_warmup: bool = True
    workers_ai_api_token: SecretStr = SecretStr("")
    cloudflare_account_id: str = ""
    workers_ai_base_url: str = "https://api.cloudflare.com/client/v4"
    openai_base_url: str = ""
    openai_api_key: SecretStr = SecretStr("")
    # Chunking, in cl100k_base tokens (shrunk further when the embedding model's limit is lower).
    chunk_tokens: int = Field(default=512, ge=32, le=8192)
    chunk_overlap_tokens: int = Field(default=128, ge=0)
    chunk_insert_batch: int = Field(default=100, ge=1)
    # Web fetches.
    web_fetch_timeout_seconds: float = Field(default=15.0, gt=0)
    web_fetch_max_bytes: int = Field(default=5 * 1024 * 1024, gt=0)
    # Private/loopback/link-local targets are refused (SSRF); only tests and dev turn this on.
    web_fetch_allow_private: bool = False
    # Job queue worker (procrastinate): heartbeat and how long before a silent worker's job is retried.
    # 2: a teacher's upload is not stuck behind a long book (the CPU model still runs one batch at a time).
    worker_concurrency: int = Field(default=2, ge=1)
    worker_heartbeat_seconds: float = Field(default=10.0, gt=0)
    worker_stalled_after_seconds: float = Field(default=60.0, gt=0)
    worker_stalled_check_seconds: float = Field(default=15.0, gt=0)
    # `make up` loads the demo books on first start (local only); the load test turns it off.
    seed_demo_data: bool = True
    # Public-domain books loaded by `make seed` (the repo's ../shared/corpus by default).
    corpus_dir: Path = REPO_ROOT.parent / "shared" / "corpus"

    # --- object storage (projects, knowledge base) ---
    # S3-compatible endpoint: Cloudflare R2 in production (https://<account>.r2.cloudflarestorage.com),
    # a local moto server on loopback for `make up` and tests (started for loopback endpoints only).
    s3_endpoint_url: str = "http://127.0.0.1:9000"
    s3_access_key_id: str = "local-dev-access-key"
    s3_secret_access_key: SecretStr = SecretStr("local-dev-secret-key")
    s3_region: str = "us-east-1"  # R2 wants "auto"
    s3_bucket_projects: str = "piano-pdfs"
    s3_bucket_knowledge: str = "piano-knowledge"
    s3_max_attempts: int = Field(default=3, ge=1)  # botocore "standard" retries, first try included
    s3_timeout_seconds: float = Field(default=10.0, gt=0)
    upload_max_bytes: int = Field(default=50 * 1024 * 1024, gt=0)
    presign_ttl_seconds: int = Field(default=3600, gt=0, le=7 * 24 * 3600)
    # Worker <-> origin trust. The previous value stays accepted during a rotation.
    origin_shared_secret: SecretStr = SecretStr("")
    origin_shared_secret_previous: SecretStr = SecretStr("")

    @property
    def creates_buckets(self) -> bool:
        """Buckets are made on startup only where we own the store (never against R2)."""
        return self.environment in ("local", "test")

    @property
    def signing_key_path(self) -> Path:
        return self.jwt_private_key_file or (self.local_dir / "keys" / "jwt-signing.pem")

    @property
    def accepted_keys_dir(self) -> Path:
        return self.jwt_accepted_keys_dir or (self.local_dir / "keys" / "accepted")


@lru_cache
def get_settings() -> Settings:
    return Settings()
