"""Wires the components together; __main__.py only calls build() and exports.

Order within one `pulumi up` (each step waits for the one before):
APIs -> identities and secrets -> release migration job (runs to success) -> instance group
rollout (surge, readiness-gated) -> Worker script. A failed migration stops the update before
any instance changes; the Worker moves only once the origin fleet runs the same release.
"""

from __future__ import annotations

import pulumi
import pulumi_cloudflare as cloudflare

from piano_infra.apis import ProjectApis, ProjectApisArgs
from piano_infra.backups import Backups, BackupsArgs
from piano_infra.cloud_armor import CloudArmor, CloudArmorArgs
from piano_infra.cloud_run import JobEgress, PinnedSecret
from piano_infra.compute import READINESS_PATH, Compute, ComputeArgs
from piano_infra.edge_storage import EdgeStorage, EdgeStorageArgs
from piano_infra.edge_worker import EdgeWorker, EdgeWorkerArgs
from piano_infra.identity import (
    API_PROJECT_ROLES,
    PROMETHEUS_PROJECT_ROLES,
    ServiceIdentity,
    ServiceIdentityArgs,
)
from piano_infra.load_balancer import LoadBalancer, LoadBalancerArgs
from piano_infra.manifest import BindingManifest
from piano_infra.migrations import MigrationJob, MigrationJobArgs
from piano_infra.monitoring import Monitoring, MonitoringArgs
from piano_infra.network import NatPorts, Network, NetworkArgs, ScrapeAccess
from piano_infra.release import Release, ReleaseRepository, load_release
from piano_infra.secrets import Secrets, SecretsArgs
from piano_infra.service_env import check_database_url
from piano_infra.settings import OPTIONAL_SECRET_CONFIG_KEYS, StackSettings


def cloudflare_ranges() -> pulumi.Output[list[str]]:
    """Cloudflare's published IPv4 + IPv6 ranges, read at deploy time (never hard-coded)."""
    ranges = cloudflare.get_ip_ranges_output()
    return pulumi.Output.all(ranges.ipv4_cidrs, ranges.ipv6_cidrs).apply(
        lambda parts: [*parts[0], *parts[1]]
    )


def fixed_env(s: StackSettings, manifest: BindingManifest) -> dict[str, str]:
    """Service settings infra derives from the stack (settings.FIXED_ENV_KEYS names them)."""
    names = {r.binding: manifest.env_bucket_name(r, s.env) for r in manifest.r2_buckets}
    return {
        "ENVIRONMENT": s.env,
        "BUILD_VERSION": s.service_version,
        "LOG_FORMAT": "json",  # the Ops Agent parses it into jsonPayload
        "CLOUDFLARE_ACCOUNT_ID": s.cloudflare_account_id,
        "S3_ENDPOINT_URL": f"https://{s.cloudflare_account_id}.r2.cloudflarestorage.com",
        "S3_REGION": "auto",  # R2's region name
        "S3_BUCKET_PROJECTS": names["PDF_BUCKET"],
        "S3_BUCKET_KNOWLEDGE": names["KNOWLEDGE_BUCKET"],
        "AUTH_PROVIDER": s.auth_provider,
        "EMBEDDING_PROVIDER": s.embedding_provider,
        "LLM_PROVIDER": s.llm_provider,
        "RERANK_PROVIDER": s.rerank_provider,
        # Refuse any request without the Worker's X-Origin-Secret (health endpoints exempt).
        "ORIGIN_ENFORCE": "true",
        # Pool sizes are part of the connection budget checked against Supabase's limit.
        "DB_POOL_MIN_SIZE": "1",
        "DB_POOL_MAX_SIZE": str(s.db_pool_max_size),
        "QUEUE_POOL_MAX_SIZE": str(s.queue_pool_max_size),
        "DB_STATEMENT_TIMEOUT_MS": str(s.db_statement_timeout_ms),
    }


def plain_env(s: StackSettings, manifest: BindingManifest) -> dict[str, str]:
    """Everything non-secret the service reads: infra's settings plus piano:serviceEnv."""
    return {**s.service_env, **fixed_env(s, manifest)}


def worker_var_overrides(s: StackSettings, manifest: BindingManifest) -> dict[str, str]:
    """Per-stack values for the manifest's vars (its defaults are for local development)."""
    overrides = {
        "ORIGIN_URL": f"https://{s.api_hostname}",
        "ALLOWED_ORIGINS": ",".join(s.cors_origins),
        "RATE_LIMIT_PER_MINUTE": str(s.rate_limit_per_minute),
        # The edge's /health reports what the load balancer routes on.
        "ORIGIN_HEALTH_PATH": READINESS_PATH,
    }
    if "ORIGIN_URL" not in manifest.vars:
        raise ValueError("worker/bindings.json must declare the ORIGIN_URL var")
    return {k: v for k, v in overrides.items() if k in manifest.vars}


def worker_secrets(s: StackSettings, manifest: BindingManifest) -> dict[str, pulumi.Output[str]]:
    missing = [name for name in manifest.secrets if name not in s.secrets]
    if missing:
        raise ValueError(
            f"worker/bindings.json declares secrets {missing} that have no stack secret config; "
            "add them to SECRET_CONFIG_KEYS in piano_infra/settings.py"
        )
    return {name: s.secrets[name] for name in manifest.secrets}


def _validated_secrets(s: StackSettings) -> dict[str, pulumi.Output[str]]:
    def database_url(url: str) -> str:
        check_database_url(url)
        return url

    values = dict(s.secrets)
    values["DATABASE_URL"] = s.secrets["DATABASE_URL"].apply(database_url)
    return values


def build(
    s: StackSettings, manifest: BindingManifest, release: Release | None = None
) -> dict[str, object]:
    release = release or load_release(s.release_bucket, s.service_version)
    repo = ReleaseRepository(
        project=s.release_repository_project or s.gcp_project,
        location=s.release_repository_location or s.region,
        name=s.release_repository,
    )
    apis = ProjectApis("apis", ProjectApisArgs(project=s.gcp_project))
    after_apis = pulumi.ResourceOptions(depends_on=list(apis.services.values()))

    def identity(name: str, account: str, description: str, roles: list[str]) -> ServiceIdentity:
        return ServiceIdentity(
            name,
            ServiceIdentityArgs(
                project=s.gcp_project,
                account_id=f"piano-{account}-{s.env}",
                description=f"{description} ({s.env})",
                project_roles=roles,
                deployers=s.deployers,
            ),
            opts=after_apis,
        )

    api_id = identity("identity", "api", "piano API instances", API_PROJECT_ROLES)
    prom_id = identity("prometheus-identity", "prom", "piano Prometheus", PROMETHEUS_PROJECT_ROLES)
    migrate_id = identity("migrate-identity", "migrate", "piano release migration job", [])
    backup_id = identity("backup-identity", "backup", "piano weekly database backup", [])
    scheduler_id = identity("scheduler-identity", "sched", "piano backup scheduler", [])

    network = Network(
        "network",
        NetworkArgs(
            env=s.env,
            region=s.region,
            subnet_cidr=s.subnet_cidr,
            labels=s.labels,
            nat=NatPorts(
                min_per_vm=s.nat_min_ports_per_vm,
                max_per_vm=s.nat_max_ports_per_vm,
                ip_count=s.nat_ip_count,
            ),
            scrape=ScrapeAccess(scraper_account=prom_id.email, target_account=api_id.email),
            allow_iap_ssh=s.allow_iap_ssh,
        ),
        opts=after_apis,
    )
    secret_ids = {var: s.secret_id(var) for var in s.secrets}
    secrets = Secrets(
        "secrets",
        SecretsArgs(
            env=s.env,
            labels=s.labels,
            secret_ids=secret_ids,
            values=_validated_secrets(s),
            accessor_member=api_id.member,
            extra_accessors={
                "DATABASE_URL": [("migrate", migrate_id.member), ("backup", backup_id.member)],
                "METRICS_TOKEN": [("prometheus", prom_id.member)],
            },
            transient=set(OPTIONAL_SECRET_CONFIG_KEYS) & set(s.secrets),
            protect=s.protect_data,
        ),
        opts=after_apis,
    )
    database_url = PinnedSecret(
        secret=secrets.secrets["DATABASE_URL"].secret_id,
        version=secrets.versions["DATABASE_URL"].version,
    )
    egress = JobEgress(network=network.network.id, subnet=network.subnet.id)
    migration = MigrationJob(
        "migration",
        MigrationJobArgs(
            env=s.env,
            region=s.region,
            labels=s.labels,
            release=release,
            image=s.job_image,
            release_repository=repo,
            extra_index=s.pip_extra_index_url,
            database_url=database_url,
            service_account_email=migrate_id.email,
            service_account_member=migrate_id.member,
            egress=egress,
            ready=[*migrate_id.ready, *secrets.extra_bindings, network.nat],
        ),
        opts=after_apis,
    )
    compute = Compute(
        "compute",
        ComputeArgs(
            env=s.env,
            region=s.region,
            zones=s.zones,
            labels=s.labels,
            machine_type=s.machine_type,
            boot_disk_gb=s.boot_disk_gb,
            min_replicas=s.min_replicas,
            max_replicas=s.max_replicas,
            cpu_target=s.cpu_target,
            autohealing_initial_delay_sec=s.autohealing_initial_delay_sec,
            expected_boot_seconds=s.expected_boot_seconds,
            release=release,
            release_repository=repo,
            pip_extra_index_url=s.pip_extra_index_url,
            api_workers=s.api_workers,
            plain_env=plain_env(s, manifest),
            secret_versions=secrets.version_names(),
            network=network.network.id,
            subnet=network.subnet.id,
            service_account_email=api_id.email,
            service_account_member=api_id.member,
            boot_dependencies=[
                *api_id.ready,
                *secrets.versions.values(),
                *secrets.bindings.values(),
                network.nat,
                migration.job,
            ],
        ),
        opts=after_apis,
    )
    armor = CloudArmor(
        "cloud-armor",
        CloudArmorArgs(env=s.env, labels=s.labels, cloudflare_ranges=cloudflare_ranges()),
        opts=after_apis,
    )
    lb = LoadBalancer(
        "lb",
        LoadBalancerArgs(
            env=s.env,
            labels=s.labels,
            api_hostname=s.api_hostname,
            instance_group=compute.mig.instance_group,
            health_check=compute.readiness_check.id,
            security_policy=armor.policy.id,
        ),
        opts=after_apis,
    )
    monitoring = Monitoring(
        "prometheus",
        MonitoringArgs(
            env=s.env,
            project=s.gcp_project,
            zones=s.zones,
            labels=s.labels,
            machine_type=s.prometheus_machine_type,
            disk_gb=s.prometheus_disk_gb,
            retention_days=s.prometheus_retention_days,
            network=network.network.id,
            subnet=network.subnet.id,
            service_account_email=prom_id.email,
            secret_versions=secrets.version_names(["METRICS_TOKEN"]),
            ready=[*prom_id.ready, *secrets.extra_bindings, network.nat],
        ),
        opts=after_apis,
    )
    backups = Backups(
        "backups",
        BackupsArgs(
            env=s.env,
            project=s.gcp_project,
            region=s.region,
            labels=s.labels,
            retention_days=s.backup_retention_days,
            schedule=s.backup_schedule,
            image=s.backup_image,
            database_url=database_url,
            job_account_email=backup_id.email,
            job_account_member=backup_id.member,
            scheduler_account_email=scheduler_id.email,
            scheduler_account_member=scheduler_id.member,
            egress=egress,
            protect=s.protect_data,
            ready=[*backup_id.ready, *scheduler_id.ready, *secrets.extra_bindings],
        ),
        opts=after_apis,
    )
    storage = EdgeStorage(
        "edge-storage",
        EdgeStorageArgs(
            env=s.env,
            account_id=s.cloudflare_account_id,
            manifest=manifest,
            cors_origins=s.cors_origins,
            protect=s.protect_data,
            location=s.r2_location,
        ),
    )
    edge = EdgeWorker(
        "edge",
        EdgeWorkerArgs(
            env=s.env,
            account_id=s.cloudflare_account_id,
            zone_id=s.cloudflare_zone_id,
            api_hostname=s.api_hostname,
            manifest=manifest,
            bundle=release.worker_bundle,
            bucket_names={b: n for b, n in storage.bucket_names.items()},
            kv_ids={b: ns.id for b, ns in storage.kv.items()},
            var_overrides=worker_var_overrides(s, manifest),
            secret_values=worker_secrets(s, manifest),
            origin_ip=lb.address.address,
            acme_record=lb.acme_record,
            rate_limit_per_minute=s.rate_limit_per_minute,
            rate_limit_namespace_id=s.rate_limit_namespace_id,
            workers_dev_subdomain=s.workers_dev_subdomain,
            after=[compute.mig],
        ),
    )
    return {
        "api_url": f"https://{s.api_hostname}",
        "worker_url": edge.worker_url,
        "bucket_names": storage.bucket_names,
        "kv_ids": {b: ns.id for b, ns in storage.kv.items()},
        "mig_name": compute.mig.name,
        "lb_ip": lb.address.address,
        "service_version": s.service_version,
        "release": release.summary,
        "nat_ips": network.nat_ips,
        "migration_job": migration.job.name,
        "backups_bucket": backups.bucket.url,
        "prometheus_instance": monitoring.instance.name,
        "analytics_dataset": s.analytics_dataset,
        "db_connection_budget": s.connection_budget.explain(),
    }
