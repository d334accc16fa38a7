"""Typed view of a stack's configuration, read once so components never touch pulumi.Config."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import pulumi

from piano_infra.db_budget import ConnectionBudget
from piano_infra.service_env import RERANK_PROVIDERS, check_providers, validate_service_env

NAMESPACE = "piano"

# Env var the service reads -> stack secret config key. The Secret Manager secret id is
# "<env>-<kebab of the env var>" (see secret_id()).
SECRET_CONFIG_KEYS: dict[str, str] = {
    "DATABASE_URL": "databaseUrl",
    "JWT_PRIVATE_KEY": "jwtPrivateKey",
    "S3_ACCESS_KEY_ID": "r2AccessKeyId",
    "S3_SECRET_ACCESS_KEY": "r2SecretAccessKey",
    "WORKERS_AI_API_TOKEN": "workersAiApiToken",
    "ORIGIN_SHARED_SECRET": "originSharedSecret",
    "ANTHROPIC_API_KEY": "anthropicApiKey",
    "OPENAI_API_KEY": "openaiApiKey",
    "METRICS_TOKEN": "metricsToken",
}
# Set only during a rotation: the service accepts these alongside the current secret/key.
OPTIONAL_SECRET_CONFIG_KEYS: dict[str, str] = {
    "ORIGIN_SHARED_SECRET_PREVIOUS": "originSharedSecretPrevious",
    "JWT_ACCEPTED_PUBLIC_KEYS": "jwtAcceptedPublicKeys",
}
# Service settings infra sets itself (service_env.fixed_env); serviceEnv may not override them.
FIXED_ENV_KEYS = frozenset(
    {
        "ENVIRONMENT",
        "BUILD_VERSION",
        "LOG_FORMAT",
        "CLOUDFLARE_ACCOUNT_ID",
        "S3_ENDPOINT_URL",
        "S3_REGION",
        "S3_BUCKET_PROJECTS",
        "S3_BUCKET_KNOWLEDGE",
        "AUTH_PROVIDER",
        "EMBEDDING_PROVIDER",
        "LLM_PROVIDER",
        "RERANK_PROVIDER",
        "ORIGIN_ENFORCE",
        "DB_POOL_MIN_SIZE",
        "DB_POOL_MAX_SIZE",
        "QUEUE_POOL_MAX_SIZE",
        "DB_STATEMENT_TIMEOUT_MS",
        "PROMETHEUS_MULTIPROC_DIR",
    }
)
# Cloudflare R2 location hints, and the one nearest each GCP region family (piano:r2LocationHint
# overrides it).
R2_LOCATION_HINTS = ("apac", "eeur", "enam", "weur", "wnam", "oc")
_R2_HINT_BY_REGION = (
    (re.compile(r"^europe-(west|southwest)"), "weur"),
    (re.compile(r"^europe-"), "eeur"),
    (re.compile(r"^(us-(east|central)|northamerica-northeast|southamerica-)"), "enam"),
    (re.compile(r"^(us-west|northamerica-south)"), "wnam"),
    (re.compile(r"^australia-"), "oc"),
    (re.compile(r"^(asia-|me-|africa-)"), "apac"),
)
PIP_CPU_TORCH_INDEX = "https://download.pytorch.org/whl/cpu"


@dataclass(frozen=True)
class StackSettings:
    """Everything a stack may vary; defaults are the MVP sizing from the product spec."""

    env: str
    gcp_project: str
    region: str
    zones: list[str]
    cloudflare_account_id: str
    cloudflare_zone_id: str
    api_hostname: str
    service_version: str
    machine_type: str = "n2-standard-4"
    boot_disk_gb: int = 50
    min_replicas: int = 2
    max_replicas: int = 10
    cpu_target: float = 0.7
    expected_boot_seconds: int = 420
    autohealing_initial_delay_sec: int = 600
    subnet_cidr: str = "10.10.0.0/20"
    rate_limit_per_minute: int = 100
    # Cloudflare rate-limit binding namespace: one per stack, or stacks share counters.
    rate_limit_namespace_id: str = "1001"
    cors_origins: list[str] = field(default_factory=list)
    auth_provider: str = "local"
    embedding_provider: str = "workers-ai"
    llm_provider: str = "anthropic"
    # Workers AI's bge-reranker-base over the fused candidates (same account and token).
    rerank_provider: str = "workers-ai"
    service_env: dict[str, str] = field(default_factory=dict)
    workers_dev_subdomain: str | None = None
    allow_iap_ssh: bool = True
    # Where the release's dependencies that are not on PyPI come from (the CPU-only torch build
    # for the optional local-embeddings extra; requirements.lock pins `torch==...+cpu`).
    pip_extra_index_url: str | None = PIP_CPU_TORCH_INDEX
    release_repository: str = "piano-releases"
    release_repository_project: str | None = None  # default: gcp:project
    release_repository_location: str | None = None  # default: gcp:region
    # GCS bucket holding each release's manifest, lock and Worker bundle (see release.py).
    release_bucket: str = ""
    # Database connections (see db_budget.py)
    api_workers: int = 4
    db_pool_max_size: int = 4
    queue_pool_max_size: int = 2
    db_statement_timeout_ms: int = 15000
    supabase_pool_size: int = 0
    # Cloud NAT: static addresses (Supabase network restrictions allow-list them) and ports
    nat_ip_count: int = 2
    nat_min_ports_per_vm: int = 128
    nat_max_ports_per_vm: int = 4096
    r2_location_hint: str | None = None  # default: nearest to gcp:region
    # Identities that run `pulumi up` (CI, operators): may act as the runtime service accounts.
    deployers: list[str] = field(default_factory=list)
    # Release-time and scheduled jobs (Cloud Run)
    job_image: str = "python:3.11.13-slim-bookworm"
    backup_image: str = "postgres:17.6-bookworm"
    backup_schedule: str = "0 3 * * 0"
    backup_retention_days: int = 30
    # In-VPC Prometheus (scrapes the instances, evaluates dashboards/prometheus/rules)
    prometheus_machine_type: str = "e2-small"
    prometheus_disk_gb: int = 20
    prometheus_retention_days: int = 15
    secrets: dict[str, pulumi.Output[str]] = field(default_factory=dict)

    @property
    def protect_data(self) -> bool:
        """Data resources (buckets, KV, secrets) are protected in prod only."""
        return self.env == "prod"

    @property
    def labels(self) -> dict[str, str]:
        return {"env": self.env, "service": "piano-platform"}

    def secret_id(self, env_var: str) -> str:
        return f"{self.env}-{env_var.lower().replace('_', '-')}"

    @property
    def surge(self) -> int:
        """A regional MIG's max_surge_fixed must be 0 or at least the number of zones."""
        return len(self.zones)

    @property
    def connection_budget(self) -> ConnectionBudget:
        return ConnectionBudget(
            api_workers=self.api_workers,
            db_pool_max_size=self.db_pool_max_size,
            queue_pool_max_size=self.queue_pool_max_size,
            max_replicas=self.max_replicas,
            surge=self.surge,
            limit=self.supabase_pool_size,
        )

    @property
    def r2_location(self) -> str:
        if self.r2_location_hint:
            return self.r2_location_hint
        for pattern, hint in _R2_HINT_BY_REGION:
            if pattern.match(self.region):
                return hint
        raise ValueError(f"no R2 location hint known for {self.region}; set piano:r2LocationHint")

    @property
    def analytics_dataset(self) -> str:
        return f"piano_edge_{self.env}"


def load(stack: str | None = None) -> StackSettings:
    """Read gcp:*, cloudflare-independent piano:* keys and the secret config for this stack."""
    cfg = pulumi.Config(NAMESPACE)
    gcp = pulumi.Config("gcp")
    env = stack or pulumi.get_stack()
    region = gcp.require("region")
    zones = cfg.require_object("zones")
    if not isinstance(zones, list) or len(zones) < 2:
        raise ValueError("piano:zones must list at least 2 zones for a regional MIG")
    settings = StackSettings(
        env=env,
        gcp_project=gcp.require("project"),
        region=region,
        zones=[str(z) for z in zones],
        cloudflare_account_id=cfg.require("cloudflareAccountId"),
        cloudflare_zone_id=cfg.require("cloudflareZoneId"),
        api_hostname=cfg.require("apiHostname"),
        service_version=cfg.require("serviceVersion"),
        machine_type=cfg.get("machineType") or "n2-standard-4",
        boot_disk_gb=cfg.get_int("bootDiskGb") or 50,
        min_replicas=cfg.get_int("minReplicas") or 2,
        max_replicas=cfg.get_int("maxReplicas") or 10,
        cpu_target=cfg.get_float("cpuTarget") or 0.7,
        expected_boot_seconds=cfg.get_int("expectedBootSeconds") or 420,
        autohealing_initial_delay_sec=cfg.get_int("autohealingInitialDelaySec") or 600,
        subnet_cidr=cfg.get("subnetCidr") or "10.10.0.0/20",
        rate_limit_per_minute=cfg.get_int("rateLimitPerMinute") or 100,
        rate_limit_namespace_id=cfg.require("rateLimitNamespaceId"),
        cors_origins=[str(o) for o in (cfg.get_object("corsOrigins") or [])],
        auth_provider=cfg.get("authProvider") or "local",
        embedding_provider=cfg.get("embeddingProvider") or "workers-ai",
        llm_provider=cfg.get("llmProvider") or "anthropic",
        rerank_provider=cfg.get("rerankProvider") or "workers-ai",
        service_env=validate_service_env(
            _mapping(cfg.get_object("serviceEnv"), "serviceEnv"), reserved=_reserved_env()
        ),
        workers_dev_subdomain=cfg.get("workersDevSubdomain"),
        allow_iap_ssh=cfg.get_bool("allowIapSsh") is not False,
        pip_extra_index_url=cfg.get("pipExtraIndexUrl") or PIP_CPU_TORCH_INDEX,
        release_repository=cfg.get("releaseRepository") or "piano-releases",
        release_repository_project=cfg.get("releaseRepositoryProject"),
        release_repository_location=cfg.get("releaseRepositoryLocation"),
        release_bucket=cfg.require("releaseBucket"),
        api_workers=cfg.get_int("apiWorkers") or 4,
        db_pool_max_size=cfg.get_int("dbPoolMaxSize") or 4,
        queue_pool_max_size=cfg.get_int("queuePoolMaxSize") or 2,
        db_statement_timeout_ms=_int_or(cfg.get_int("dbStatementTimeoutMs"), 15000),
        supabase_pool_size=cfg.require_int("supabasePoolSize"),
        nat_ip_count=cfg.get_int("natIpCount") or 2,
        nat_min_ports_per_vm=cfg.get_int("natMinPortsPerVm") or 128,
        nat_max_ports_per_vm=cfg.get_int("natMaxPortsPerVm") or 4096,
        r2_location_hint=cfg.get("r2LocationHint"),
        deployers=[str(d) for d in (cfg.get_object("deployers") or [])],
        job_image=cfg.get("jobImage") or "python:3.11.13-slim-bookworm",
        backup_image=cfg.get("backupImage") or "postgres:17.6-bookworm",
        backup_schedule=cfg.get("backupSchedule") or "0 3 * * 0",
        backup_retention_days=cfg.get_int("backupRetentionDays") or 30,
        prometheus_machine_type=cfg.get("prometheusMachineType") or "e2-small",
        prometheus_disk_gb=cfg.get_int("prometheusDiskGb") or 20,
        prometheus_retention_days=cfg.get_int("prometheusRetentionDays") or 15,
        secrets=_secrets(cfg),
    )
    validate(settings)
    return settings


def _int_or(value: int | None, default: int) -> int:
    return default if value is None else value


def _mapping(raw: object, key: str) -> dict[str, object]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ValueError(f"piano:{key} must be a map of NAME: value")
    return {str(k): v for k, v in raw.items()}


def _reserved_env() -> set[str]:
    return set(FIXED_ENV_KEYS) | set(SECRET_CONFIG_KEYS) | set(OPTIONAL_SECRET_CONFIG_KEYS)


def _secrets(cfg: pulumi.Config) -> dict[str, pulumi.Output[str]]:
    secrets = {var: cfg.require_secret(key) for var, key in SECRET_CONFIG_KEYS.items()}
    for var, key in OPTIONAL_SECRET_CONFIG_KEYS.items():
        value = cfg.get_secret(key)
        if value is not None:
            secrets[var] = value
    return secrets


def validate(s: StackSettings) -> None:
    """Fail `pulumi preview` early on settings that would produce a broken environment."""
    if not 1 <= s.min_replicas <= s.max_replicas:
        raise ValueError("need 1 <= piano:minReplicas <= piano:maxReplicas")
    if not s.cors_origins:
        raise ValueError("piano:corsOrigins must list the web origins allowed to upload to R2")
    if not 0.0 < s.cpu_target < 1.0:
        raise ValueError("piano:cpuTarget must be between 0 and 1")
    if s.autohealing_initial_delay_sec <= s.expected_boot_seconds:
        raise ValueError(
            "piano:autohealingInitialDelaySec must exceed piano:expectedBootSeconds, "
            "or autohealing recreates instances that are still booting"
        )
    check_providers(s.auth_provider, s.embedding_provider, s.llm_provider, s.service_env)
    if s.rerank_provider not in RERANK_PROVIDERS:
        raise ValueError(f"piano:rerankProvider must be one of {', '.join(RERANK_PROVIDERS)}")
    if not s.rate_limit_namespace_id.isdigit() or int(s.rate_limit_namespace_id) < 1:
        raise ValueError("piano:rateLimitNamespaceId must be a positive integer (one per stack)")
    if s.r2_location not in R2_LOCATION_HINTS:
        raise ValueError(f"piano:r2LocationHint must be one of {', '.join(R2_LOCATION_HINTS)}")
    if not s.release_bucket:
        raise ValueError("piano:releaseBucket must name the GCS bucket holding the releases")
    if s.api_workers < 1 or s.db_pool_max_size < 1 or s.queue_pool_max_size < 1:
        raise ValueError("piano:apiWorkers, dbPoolMaxSize and queuePoolMaxSize must be >= 1")
    if s.db_statement_timeout_ms < 1:
        raise ValueError(
            "piano:dbStatementTimeoutMs must be positive: a runaway query holds a pooled connection"
        )
    s.connection_budget.check()
    validate_nat(s)
    if s.backup_retention_days < 7:
        raise ValueError("piano:backupRetentionDays must keep at least one weekly dump (>= 7)")


def _power_of_two(n: int) -> bool:
    return n > 0 and n & (n - 1) == 0


# Each NAT address offers 64,512 ports (1024-65535).
PORTS_PER_NAT_IP = 64512
# VMs and job instances behind the NAT besides the API fleet: Prometheus, migration, backup.
OTHER_NAT_CLIENTS = 3


def validate_nat(s: StackSettings) -> None:
    """Dynamic port allocation bounds that hold the fleet's connections to one pooler address."""
    lo, hi = s.nat_min_ports_per_vm, s.nat_max_ports_per_vm
    if not (_power_of_two(lo) and _power_of_two(hi) and 32 <= lo < hi <= 65536):
        raise ValueError(
            "piano:natMinPortsPerVm and natMaxPortsPerVm must be powers of two with "
            "32 <= min < max <= 65536 (Cloud NAT dynamic port allocation)"
        )
    per_instance = s.connection_budget.per_instance
    if per_instance > lo:
        raise ValueError(
            f"piano:natMinPortsPerVm = {lo} is below one instance's {per_instance} database "
            "connections, which all go to the same pooler address and port: each needs its own "
            "NAT port from the first minute, before dynamic allocation grows"
        )
    vms = s.connection_budget.max_instances + OTHER_NAT_CLIENTS
    if vms * hi > s.nat_ip_count * PORTS_PER_NAT_IP:
        raise ValueError(
            f"piano:natIpCount = {s.nat_ip_count} addresses cannot give {vms} VMs "
            f"{hi} ports each; add addresses or lower piano:natMaxPortsPerVm"
        )
    if not 1 <= s.nat_ip_count <= 8:
        raise ValueError("piano:natIpCount must be between 1 and 8")
