"""Settings come from the environment (and an optional .env file) so one build runs in every stack.

They are grouped into typed sections (`settings.db.pool_max_size`), but every setting keeps its
flat environment name (`DB_POOL_MAX_SIZE`): operators, `.env.example`, the README and the infra
program all speak those names. A section field's name is its section's `env_prefix` plus the field
name, unless the field names another variable with `env(...)`. Flat names are also accepted as
keyword arguments and in `model_copy(update=...)`, which is how tests and tools override one value.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any, ClassVar, Literal

from dotenv import dotenv_values
from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    DotEnvSettingsSource,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
ENV_FILE = ".env"


def env(name: str) -> dict[str, Any]:
    """`json_schema_extra` naming a field's environment variable when it isn't prefix + name."""
    return {"env": name}


class Section(BaseModel):
    """A group of settings; `env_prefix` + field name (upper-cased) is the variable's name."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)
    env_prefix: ClassVar[str] = ""

    @classmethod
    def env_name(cls, field: str) -> str:
        extra = cls.model_fields[field].json_schema_extra
        if isinstance(extra, dict) and isinstance(extra.get("env"), str):
            return str(extra["env"])
        return f"{cls.env_prefix}{field}".upper()


class LogSettings(Section):
    env_prefix = "LOG_"
    level: str = "INFO"
    format: Literal["json", "console"] = "json"


class MetricsSettings(Section):
    env_prefix = "METRICS_"
    # Bearer token for GET /api/metrics (empty: open, for scrapes inside the VPC; the edge blocks it).
    token: SecretStr = SecretStr("")
    sample_seconds: float = Field(default=15.0, gt=0)


class DatabaseSettings(Section):
    env_prefix = "DB_"
    # Empty means "use the embedded server" (make up / tests); production always sets it.
    url: str = Field(default="", json_schema_extra=env("DATABASE_URL"))
    pool_min_size: int = Field(default=2, ge=1)
    pool_max_size: int = Field(default=20, ge=1)
    pool_timeout_seconds: float = Field(default=5.0, gt=0)
    statement_timeout_ms: int = Field(default=15000, ge=0)


class LocalStackSettings(Section):
    """What `make up` runs on this machine; production ignores these."""

    api_host: str = "127.0.0.1"
    api_port: int = 8080
    # uvicorn worker processes; production runs one per vCPU (piano:apiWorkers), and the load test
    # runs one per core here to match.
    api_workers: int = Field(default=1, ge=1, le=64)
    # The edge Worker in workerd, in front of the API. Needs Node.js and worker/ npm deps.
    edge_enabled: bool = True
    edge_port: int = 8787
    edge_rate_limit_per_minute: int = Field(default=100, ge=0)
    # Load the demo books on first start (local only); the load test turns it off.
    seed_demo_data: bool = True
    # Public-domain books loaded by `make seed` (the repo's ../shared/corpus by default).
    corpus_dir: Path = REPO_ROOT.parent / "shared" / "corpus"


class AuthSettings(Section):
    provider: Literal["local", "supabase"] = Field(
        default="local", json_schema_extra=env("AUTH_PROVIDER")
    )
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


class StorageSettings(Section):
    """S3-compatible object storage: R2 in production, a local server on loopback for `make up`."""

    env_prefix = "S3_"
    endpoint_url: str = "http://127.0.0.1:9000"
    access_key_id: str = "local-dev-access-key"
    secret_access_key: SecretStr = SecretStr("local-dev-secret-key")
    region: str = "us-east-1"  # R2 wants "auto"
    bucket_projects: str = "piano-pdfs"
    bucket_knowledge: str = "piano-knowledge"
    max_attempts: int = Field(default=3, ge=1)  # botocore "standard" retries, first try included
    timeout_seconds: float = Field(default=10.0, gt=0)
    upload_max_bytes: int = Field(
        default=50 * 1024 * 1024, gt=0, json_schema_extra=env("UPLOAD_MAX_BYTES")
    )
    presign_ttl_seconds: int = Field(
        default=3600, gt=0, le=7 * 24 * 3600, json_schema_extra=env("PRESIGN_TTL_SECONDS")
    )


class OriginSettings(Section):
    """Worker <-> origin trust. The previous value stays accepted during a rotation."""

    env_prefix = "ORIGIN_"
    shared_secret: SecretStr = SecretStr("")
    shared_secret_previous: SecretStr = SecretStr("")
    # Refuse every request without the secret (health probes and the metrics scrape excepted):
    # production and `make up` set it, so only the edge Worker reaches the API.
    enforce: bool = False

    @model_validator(mode="after")
    def _enforce_needs_a_secret(self) -> OriginSettings:
        if self.enforce and not self.shared_secret.get_secret_value():
            raise ValueError("ORIGIN_ENFORCE=true needs ORIGIN_SHARED_SECRET")
        return self


class QueueSettings(Section):
    """The job queue's own connections (procrastinate), beside the app pool in each process."""

    env_prefix = "QUEUE_"
    # Counted in infra's connection budget: (DB_POOL_MAX_SIZE + this) per API or worker process.
    pool_max_size: int = Field(default=2, ge=1)


class CloudflareSettings(Section):
    """Workers AI over REST: embeddings, the LLM and the re-ranker share the account and token."""

    account_id: str = Field(default="", json_schema_extra=env("CLOUDFLARE_ACCOUNT_ID"))
    workers_ai_api_token: SecretStr = SecretStr("")
    workers_ai_base_url: str = "https://api.cloudflare.com/client/v4"


class EmbeddingSettings(Section):
    env_prefix = "EMBEDDING_"
    # local (sentence-transformers, offline), workers-ai (Cloudflare REST) or openai-compatible
    # (POST {base}/embeddings). Model/dimensions default per provider when empty/0.
    provider: Literal["local", "workers-ai", "openai-compatible"] = "local"
    model: str = ""
    dimensions: int = Field(default=0, ge=0)
    # The model's own input limit in its tokens; 0 = the provider's known default.
    max_tokens: int = Field(default=0, ge=0)
    batch_size: int = Field(default=50, ge=1, le=100)
    max_attempts: int = Field(default=5, ge=1, le=10)
    backoff_seconds: float = Field(default=0.5, ge=0)
    timeout_seconds: float = Field(default=30.0, gt=0)
    # Load a local model when the API starts (in the background) instead of on the first query.
    warmup: bool = True
    openai_base_url: str = Field(default="", json_schema_extra=env("OPENAI_BASE_URL"))
    openai_api_key: SecretStr = Field(
        default=SecretStr(""), json_schema_extra=env("OPENAI_API_KEY")
    )


class IngestSettings(Section):
    # Chunking, in cl100k_base tokens (shrunk further when the embedding model's limit is lower).
    chunk_tokens: int = Field(default=512, ge=32, le=8192)
    chunk_overlap_tokens: int = Field(default=128, ge=0)
    chunk_insert_batch: int = Field(default=100, ge=1)
    # The whole fetch, redirects included: a server that drips bytes is cut off at this deadline.
    web_fetch_timeout_seconds: float = Field(default=15.0, gt=0)
    web_fetch_max_bytes: int = Field(default=5 * 1024 * 1024, gt=0)
    # Private/loopback/link-local targets are refused (SSRF); only tests and dev turn this on.
    web_fetch_allow_private: bool = False
    # Jobs one worker runs at once: 2, so a teacher's upload is not stuck behind a long book (the
    # CPU model still runs one batch at a time).
    worker_concurrency: int = Field(default=2, ge=1)
    # Heartbeat, and how long before a silent worker's job is retried elsewhere.
    worker_heartbeat_seconds: float = Field(default=10.0, gt=0)
    worker_stalled_after_seconds: float = Field(default=60.0, gt=0)
    worker_stalled_check_seconds: float = Field(default=15.0, gt=0)


class IngestLimitSettings(Section):
    """One document can't hold the queue: deadlines for parsing and for the whole run, and a cap
    on how often a job whose worker died is tried again before the document is failed."""

    env_prefix = "INGEST_"
    parse_timeout_seconds: float = Field(default=300.0, gt=0)
    job_timeout_seconds: float = Field(default=3600.0, gt=0)
    max_attempts: int = Field(default=3, ge=1)


class UploadCleanupSettings(Section):
    """Uploads never confirmed (pending projects, never-processed knowledge files) are removed."""

    env_prefix = "UPLOAD_CLEANUP_"
    after_seconds: int = Field(default=24 * 3600, ge=60)


class TranscriptSettings(Section):
    """Captions fetched for `youtube` documents that have a URL but no uploaded .vtt/.srt."""

    env_prefix = "TRANSCRIPT_"
    # youtube: fetch public captions (youtube-transcript-api); none: an upload is required.
    provider: Literal["youtube", "none"] = "youtube"
    # Accepted caption languages, most wanted first (manual captions beat generated ones).
    languages: str = "en"
    timeout_seconds: float = Field(default=20.0, gt=0)
    # YouTube blocks many cloud addresses; an http(s) proxy URL routes the fetches through it.
    proxy_url: SecretStr = SecretStr("")
    # Where the YouTube web protocol is spoken (tests point it at a local stand-in).
    youtube_base_url: str = "https://www.youtube.com"


class SearchSettings(Section):
    env_prefix = "SEARCH_"
    # Candidates taken from each ranker before Reciprocal Rank Fusion, and the RRF constant.
    vector_candidates: int = Field(default=40, ge=1, le=500)
    fts_candidates: int = Field(default=40, ge=1, le=500)
    rrf_k: int = Field(default=60, ge=1)
    # HNSW ef_search. The vector leg hands its top `vector_candidates` (40) to the fusion, so
    # recall at 40 is what counts: at 100k chunks of the int8 MiniLM's vectors, 100 reached 0.967
    # and 300 reached 0.998 for about 1 ms more (loadtest/results/retrieval-eval.md). On pgvector
    # < 0.8 it is widened for narrower scopes up to the max.
    ef_search: int = Field(default=300, ge=1, le=1000)
    ef_search_max: int = Field(default=1000, ge=1, le=1000)
    # Scopes smaller than this share of the model's chunks, or this many rows, are searched exactly;
    # larger ones (but not everything) by an iterative index scan (service/search/plan.py).
    exact_scope_fraction: float = Field(default=0.005, ge=0, le=1)
    exact_scope_rows: int = Field(default=3000, ge=0)
    # Lexical leg: postings read per query (summed document frequency of its rarest terms).
    lexical_budget: int = Field(default=2000, ge=1, le=1_000_000)
    # Share of searches run again exactly, off the request path, to export live recall@10.
    live_recall_sample_rate: float = Field(default=0.01, ge=0, le=1)
    # Run the two legs at once on two connections when a search is its process's only cold
    # question: lower latency one at a time, but both cores busy at once (see docs/rag.md).
    legs_at_once: bool = True


class RerankSettings(Section):
    env_prefix = "RERANK_"
    provider: Literal["none", "workers-ai"] = "none"
    model: str = "@cf/baai/bge-reranker-base"
    candidates: int = Field(default=20, ge=1, le=100)
    # Past this the fused order is kept: re-ranking may improve an answer, never stall one.
    timeout_seconds: float = Field(default=1.0, gt=0)


class LLMSettings(Section):
    """Extractive is the offline default and the fallback for every other provider."""

    env_prefix = "LLM_"
    provider: Literal["extractive", "workers-ai", "openai-compatible", "anthropic"] = "extractive"
    timeout_seconds: float = Field(default=20.0, gt=0)
    first_token_timeout_seconds: float = Field(default=8.0, gt=0)
    max_tokens: int = Field(default=700, gt=0)
    temperature: float = Field(default=0.2, ge=0, le=2)
    history_messages: int = Field(default=4, ge=0, le=20)
    workers_ai_model: str = Field(
        default="@cf/meta/llama-4-scout-17b-16e-instruct",
        json_schema_extra=env("WORKERS_AI_LLM_MODEL"),
    )
    openai_base_url: str = "http://127.0.0.1:8000/v1"
    openai_api_key: SecretStr = SecretStr("")
    openai_model: str = ""
    anthropic_base_url: str = Field(
        default="https://api.anthropic.com", json_schema_extra=env("ANTHROPIC_BASE_URL")
    )
    anthropic_api_key: SecretStr = Field(
        default=SecretStr(""), json_schema_extra=env("ANTHROPIC_API_KEY")
    )
    anthropic_model: str = Field(
        default="claude-3-5-haiku-latest", json_schema_extra=env("ANTHROPIC_MODEL")
    )


class RagSettings(Section):
    env_prefix = "RAG_"
    # RAG queries in flight per API process before new ones get 503 `overloaded` (0: no limit): a
    # backstop above the cold-path gate below, which is what sheds under load.
    max_in_flight: int = Field(default=256, ge=0)
    # Cold questions (query embedding + hybrid search) run at once per process; more wait in
    # order, up to `cold_queue` of them and `cold_max_wait_seconds` each; cached answers never wait.
    cold_concurrency: int = Field(default=4, ge=1)
    cold_queue: int = Field(default=64, ge=0)
    cold_max_wait_seconds: float = Field(default=1.0, gt=0)


class TutorSettings(Section):
    """The practice tutor's tool loop (POST /api/v1/chat)."""

    env_prefix = "TUTOR_"
    # Model turns that may call tools before the tutor must answer with what it has.
    max_tool_rounds: int = Field(default=4, ge=1, le=8)
    # The whole answer, tools and model turns together; past it the tutor answers from the
    # results it already has.
    deadline_seconds: float = Field(default=30.0, gt=0, le=300)


class CacheSettings(Section):
    """postgres = UNLOGGED table in the app database (shared, no extra server); memory = per
    process; none = off."""

    env_prefix = "CACHE_"
    backend: Literal["postgres", "memory", "none"] = "postgres"
    embedding_ttl_seconds: int = Field(default=24 * 3600, ge=0)
    search_ttl_seconds: int = Field(default=3600, ge=0)
    answer_ttl_seconds: int = Field(default=24 * 3600, ge=0)
    # postgres only: each process keeps what it read or wrote for this long (0 = off), so repeated
    # questions skip the database; a purge by another process reaches it within this time.
    near_ttl_seconds: int = Field(default=60, ge=0)
    near_max_entries: int = Field(default=3000, ge=1)


class RateLimitSettings(Section):
    """Per-user limits at the origin, counted in PostgreSQL so every instance shares them.

    Limits use the `limits` library's notation ("1000/hour", "50/minute", "10 per 30 seconds").
    """

    env_prefix = "RATE_LIMIT_"
    enabled: bool = True
    api: str = "1000/hour"  # every authenticated request, per user
    rag: str = "50/minute"  # questions (POST /api/chat/query), per user
    tutor: str = "50/minute"  # the tutor chat's own bucket, per user
    uploads: str = "60/hour"  # new project, knowledge and recording uploads, per user
    feedback: str = "20/hour"  # practice feedback reports written (not stored ones read), per user
    # Login and registration attempts (each costs ~64 MiB and tens of ms of Argon2).
    login_ip: str = "30/minute"  # per client IP
    login_account: str = "10/minute"  # per account (email), registered or not
    # Consecutive failures allowed before exponential backoff: base * 2^(n - free - 1) seconds,
    # capped; an account's count resets on a successful login, an IP's after the cap passes idle.
    login_free_failures: int = Field(default=5, ge=0)
    login_ip_free_failures: int = Field(default=20, ge=0)
    login_backoff_base_seconds: float = Field(default=1.0, gt=0)
    login_backoff_max_seconds: float = Field(default=900.0, gt=0)

    @field_validator("api", "rag", "tutor", "uploads", "feedback", "login_ip", "login_account")
    @classmethod
    def _limit_notation(cls, value: str) -> str:
        from limits import parse

        try:
            parse(value)
        except ValueError as exc:
            raise ValueError(f"not a rate limit ({exc}); write e.g. '1000/hour'") from exc
        return value


class RecordingSettings(Section):
    """Practice recordings: what an upload may be, and how long its download links live."""

    env_prefix = "RECORDING_"
    # The audio part's size limit: 50 MB. Bigger uploads get 413 as soon as they pass it.
    max_bytes: int = Field(default=50 * 1024 * 1024, gt=0)
    # Longest accepted recording: bounds the analysis' time and memory (refused at upload).
    max_seconds: float = Field(default=900.0, gt=0, le=3600)
    min_seconds: float = Field(default=1.0, gt=0)
    # Download links on GET /api/v1/recordings/{id} are short-lived.
    url_ttl_seconds: int = Field(default=300, gt=0, le=7 * 24 * 3600)


class AnalysisSettings(Section):
    """Which analyser scores recordings: `local` signal analysis, or an external model service
    (`http`: POST {ANALYSIS_HTTP_URL}/analyze, see service/analysis/http.py for the contract)."""

    env_prefix = "ANALYSIS_"
    provider: Literal["local", "http"] = "local"
    http_url: str = ""
    http_token: SecretStr = SecretStr("")
    timeout_seconds: float = Field(default=120.0, gt=0)
    max_attempts: int = Field(default=3, ge=1, le=10)
    backoff_seconds: float = Field(default=1.0, ge=0)

    @model_validator(mode="after")
    def _http_needs_a_url(self) -> AnalysisSettings:
        if self.provider == "http" and not self.http_url.startswith(("http://", "https://")):
            raise ValueError("ANALYSIS_PROVIDER=http needs ANALYSIS_HTTP_URL (http or https)")
        return self


class FeedbackSettings(Section):
    """Practice feedback reports on analysed recordings."""

    env_prefix = "FEEDBACK_"
    # A stored report is returned for this long; after it (or with ?refresh=true) it is written
    # again, picking up new knowledge and a changed practice context.
    cache_ttl_seconds: int = Field(default=6 * 3600, ge=0)
    # The plan's length when the student hasn't stated their daily practice time.
    default_practice_minutes: int = Field(default=20, ge=1, le=600)
    # Knowledge passages cited per focus area.
    citations_per_focus: int = Field(default=2, ge=0, le=5)


def _sections(model: type[BaseModel]) -> Iterator[tuple[str, type[Section]]]:
    for name, info in model.model_fields.items():
        kind = info.annotation
        if isinstance(kind, type) and issubclass(kind, Section):
            yield name, kind


def _flat_names(model: type[BaseModel]) -> dict[str, tuple[str, str]]:
    """{"DB_POOL_MAX_SIZE": ("db", "pool_max_size"), ...} for every section field."""
    names: dict[str, tuple[str, str]] = {}
    for section, kind in _sections(model):
        for field in kind.model_fields:
            name = kind.env_name(field)
            if name in names:
                raise RuntimeError(f"two settings share the variable {name}")
            names[name] = (section, field)
    return names


def _nest(flat: Mapping[str, Any], names: Mapping[str, tuple[str, str]]) -> dict[str, Any]:
    """Moves flat keys (any case) into their sections; other keys are returned as they are."""
    nested: dict[str, Any] = {}
    for key, value in flat.items():
        target = names.get(key.upper())
        if target is None:
            nested[key] = value
            continue
        section, field = target
        existing = nested.setdefault(section, {})
        if isinstance(existing, BaseModel):
            existing = nested[section] = existing.model_dump()
        existing[field] = value
    return nested


class _FlatEnvSource(PydanticBaseSettingsSource):
    """Reads section fields from their flat variables: the environment first, then .env."""

    def __init__(self, settings_cls: type[BaseSettings]) -> None:
        super().__init__(settings_cls)
        self.names = _flat_names(settings_cls)

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False  # unused: __call__ reads every variable at once

    def __call__(self) -> dict[str, Any]:
        import os

        file_values = dotenv_values(ENV_FILE) if Path(ENV_FILE).is_file() else {}
        found: dict[str, Any] = {}
        environ = {k.upper(): v for k, v in os.environ.items()}
        files = {k.upper(): v for k, v in file_values.items() if v is not None}
        for name in self.names:
            if name in environ:
                found[name] = environ[name]
            elif name in files and files[name] != "":
                found[name] = files[name]
        nested = _nest(found, self.names)
        return {k: v for k, v in nested.items() if isinstance(v, dict)}


def _is_section(field: FieldInfo) -> bool:
    return isinstance(field.annotation, type) and issubclass(field.annotation, Section)


class _TopLevelEnv(EnvSettingsSource):
    """pydantic-settings' environment source for top-level fields only: a variable named like a
    section (`DB`, `LOG`) is not a setting and must not be parsed as one."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        if _is_section(field):
            return None, field_name, False
        return super().get_field_value(field, field_name)


class _TopLevelDotEnv(DotEnvSettingsSource):
    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        if _is_section(field):
            return None, field_name, False
        return super().get_field_value(field, field_name)

    def __call__(self) -> dict[str, Any]:
        # The parent also returns every other line of the file; section variables are read (with
        # the environment taking precedence) by _FlatEnvSource.
        fields = self.settings_cls.model_fields
        return {k: v for k, v in super().__call__().items() if k in fields}


class Settings(BaseSettings):
    """Every setting is documented in README.md and .env.example (a test keeps the three in step)."""

    model_config = SettingsConfigDict(env_file=ENV_FILE, env_file_encoding="utf-8", extra="ignore")

    environment: Literal["local", "test", "dev", "staging", "prod"] = "local"
    build_version: str = "dev"
    # Where `make up` keeps embedded PostgreSQL data, keys and object storage.
    local_dir: Path = REPO_ROOT / ".local"

    log: LogSettings = Field(default_factory=LogSettings)
    metrics: MetricsSettings = Field(default_factory=MetricsSettings)
    db: DatabaseSettings = Field(default_factory=DatabaseSettings)
    local: LocalStackSettings = Field(default_factory=LocalStackSettings)
    auth: AuthSettings = Field(default_factory=AuthSettings)
    storage: StorageSettings = Field(default_factory=StorageSettings)
    origin: OriginSettings = Field(default_factory=OriginSettings)
    queue: QueueSettings = Field(default_factory=QueueSettings)
    cloudflare: CloudflareSettings = Field(default_factory=CloudflareSettings)
    embedding: EmbeddingSettings = Field(default_factory=EmbeddingSettings)
    ingest: IngestSettings = Field(default_factory=IngestSettings)
    ingest_limits: IngestLimitSettings = Field(default_factory=IngestLimitSettings)
    upload_cleanup: UploadCleanupSettings = Field(default_factory=UploadCleanupSettings)
    transcript: TranscriptSettings = Field(default_factory=TranscriptSettings)
    search: SearchSettings = Field(default_factory=SearchSettings)
    rerank: RerankSettings = Field(default_factory=RerankSettings)
    llm: LLMSettings = Field(default_factory=LLMSettings)
    rag: RagSettings = Field(default_factory=RagSettings)
    tutor: TutorSettings = Field(default_factory=TutorSettings)
    cache: CacheSettings = Field(default_factory=CacheSettings)
    rate_limit: RateLimitSettings = Field(default_factory=RateLimitSettings)
    recording: RecordingSettings = Field(default_factory=RecordingSettings)
    analysis: AnalysisSettings = Field(default_factory=AnalysisSettings)
    feedback: FeedbackSettings = Field(default_factory=FeedbackSettings)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (
            init_settings,
            _TopLevelEnv(settings_cls),
            _TopLevelDotEnv(settings_cls),
            _FlatEnvSource(settings_cls),
        )

    @model_validator(mode="before")
    @classmethod
    def _accept_flat_names(cls, data: Any) -> Any:
        """`Settings(database_url=...)` sets `db.url`, overriding the environment."""
        if not isinstance(data, dict):
            return data
        names = env_names()
        flat = {k: v for k, v in data.items() if k.upper() in names}
        rest = {k: v for k, v in data.items() if k.upper() not in names}
        for section, values in _nest(flat, names).items():
            current = rest.get(section, {})
            if isinstance(current, BaseModel):
                current = current.model_dump()
            rest[section] = {**current, **values}
        return rest

    @classmethod
    def with_values(cls, **values: Any) -> Settings:
        """The environment's settings with some overridden by flat name (tests and tools)."""
        return cls(**values)

    def model_copy(
        self, *, update: Mapping[str, Any] | None = None, deep: bool = False
    ) -> Settings:
        """Like BaseModel.model_copy, with flat names routed to their sections (and validated)."""
        if not update:
            return super().model_copy(deep=deep)
        data = self.model_dump()
        names = env_names()
        for key, value in update.items():
            if key.upper() in names:
                section, field = names[key.upper()]
                data[section][field] = value
            else:
                data[key] = value
        return type(self).model_validate(data)

    @property
    def creates_buckets(self) -> bool:
        """Buckets are made on startup only where we own the store (never against R2)."""
        return self.environment in ("local", "test")

    @property
    def signing_key_path(self) -> Path:
        return self.auth.jwt_private_key_file or (self.local_dir / "keys" / "jwt-signing.pem")

    @property
    def accepted_keys_dir(self) -> Path:
        return self.auth.jwt_accepted_keys_dir or (self.local_dir / "keys" / "accepted")


@lru_cache
def env_names() -> dict[str, tuple[str, str]]:
    """Every section field's variable name -> (section, field)."""
    return _flat_names(Settings)


def all_env_names() -> list[str]:
    """Every variable the service reads, top-level fields included."""
    top = [
        n.upper() for n, _ in Settings.model_fields.items() if n not in dict(_sections(Settings))
    ]
    return sorted([*top, *env_names()])


@lru_cache
def get_settings() -> Settings:
    return Settings()
