"""Typed view of a stack's configuration, read once so components never touch pulumi.Config."""

from __future__ import annotations

from dataclasses import dataclass, field

import pulumi

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
    cors_origins: list[str] = field(default_factory=list)
    auth_provider: str = "local"
    embedding_provider: str = "workers-ai"
    llm_provider: str = "anthropic"
    workers_dev_subdomain: str | None = None
    allow_iap_ssh: bool = True
    pip_extra_index_url: str | None = None
    release_repository: str = "piano-releases"
    release_repository_project: str | None = None  # default: gcp:project
    release_repository_location: str | None = None  # default: gcp:region
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
        cors_origins=[str(o) for o in (cfg.get_object("corsOrigins") or [])],
        auth_provider=cfg.get("authProvider") or "local",
        embedding_provider=cfg.get("embeddingProvider") or "workers-ai",
        llm_provider=cfg.get("llmProvider") or "anthropic",
        workers_dev_subdomain=cfg.get("workersDevSubdomain"),
        allow_iap_ssh=cfg.get_bool("allowIapSsh") is not False,
        pip_extra_index_url=cfg.get("pipExtraIndexUrl"),
        release_repository=cfg.get("releaseRepository") or "piano-releases",
        release_repository_project=cfg.get("releaseRepositoryProject"),
        release_repository_location=cfg.get("releaseRepositoryLocation"),
        secrets=_secrets(cfg),
    )
    validate(settings)
    return settings


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
