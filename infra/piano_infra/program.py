"""Wires the components together; __main__.py only calls build() and exports."""

from __future__ import annotations

from pathlib import Path

import pulumi
import pulumi_cloudflare as cloudflare

from piano_infra.cloud_armor import CloudArmor, CloudArmorArgs
from piano_infra.compute import Compute, ComputeArgs, ReleaseRepository
from piano_infra.edge_storage import EdgeStorage, EdgeStorageArgs
from piano_infra.edge_worker import EdgeWorker, EdgeWorkerArgs
from piano_infra.identity import ServiceIdentity, ServiceIdentityArgs
from piano_infra.load_balancer import LoadBalancer, LoadBalancerArgs
from piano_infra.manifest import BindingManifest
from piano_infra.network import Network, NetworkArgs
from piano_infra.secrets import Secrets, SecretsArgs
from piano_infra.settings import StackSettings


def cloudflare_ranges() -> pulumi.Output[list[str]]:
    """Cloudflare's published IPv4 + IPv6 ranges, read at deploy time (never hard-coded)."""
    ranges = cloudflare.get_ip_ranges_output()
    return pulumi.Output.all(ranges.ipv4_cidrs, ranges.ipv6_cidrs).apply(
        lambda parts: [*parts[0], *parts[1]]
    )


def plain_env(s: StackSettings, manifest: BindingManifest) -> dict[str, str]:
    """Non-secret service settings (env var names are the service's contract)."""
    names = {r.binding: manifest.env_bucket_name(r, s.env) for r in manifest.r2_buckets}
    return {
        "ENVIRONMENT": s.env,
        "BUILD_VERSION": s.service_version,
        "CLOUDFLARE_ACCOUNT_ID": s.cloudflare_account_id,
        "S3_ENDPOINT_URL": f"https://{s.cloudflare_account_id}.r2.cloudflarestorage.com",
        "S3_BUCKET_PROJECTS": names["PDF_BUCKET"],
        "S3_BUCKET_KNOWLEDGE": names["KNOWLEDGE_BUCKET"],
        "AUTH_PROVIDER": s.auth_provider,
        "EMBEDDING_PROVIDER": s.embedding_provider,
        "LLM_PROVIDER": s.llm_provider,
    }


def worker_var_overrides(s: StackSettings, manifest: BindingManifest) -> dict[str, str]:
    """Per-stack values for the manifest's vars (its defaults are for local development)."""
    overrides = {
        "ORIGIN_URL": f"https://{s.api_hostname}",
        "ALLOWED_ORIGINS": ",".join(s.cors_origins),
        "RATE_LIMIT_PER_MINUTE": str(s.rate_limit_per_minute),
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


def build(
    s: StackSettings, manifest: BindingManifest, bundle: Path | None = None
) -> dict[str, object]:
    secret_ids = {var: s.secret_id(var) for var in s.secrets}
    network = Network(
        "network",
        NetworkArgs(
            env=s.env, region=s.region, subnet_cidr=s.subnet_cidr, allow_iap_ssh=s.allow_iap_ssh
        ),
    )
    identity = ServiceIdentity("identity", ServiceIdentityArgs(env=s.env, project=s.gcp_project))
    secrets = Secrets(
        "secrets",
        SecretsArgs(
            env=s.env,
            labels=s.labels,
            secret_ids=secret_ids,
            values=s.secrets,
            accessor_member=identity.member,
            protect=s.protect_data,
        ),
    )
    compute = Compute(
        "compute",
        ComputeArgs(
            env=s.env,
            project=s.gcp_project,
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
            service_version=s.service_version,
            pip_extra_index_url=s.pip_extra_index_url,
            release_repository=ReleaseRepository(
                project=s.release_repository_project or s.gcp_project,
                location=s.release_repository_location or s.region,
                name=s.release_repository,
            ),
            secret_ids=secret_ids,
            plain_env=plain_env(s, manifest),
            network=network.network.id,
            subnet=network.subnet.id,
            service_account_email=identity.email,
            service_account_member=identity.member,
            boot_dependencies=[*secrets.versions.values(), *secrets.bindings.values()],
        ),
    )
    armor = CloudArmor(
        "cloud-armor",
        CloudArmorArgs(env=s.env, labels=s.labels, cloudflare_ranges=cloudflare_ranges()),
    )
    lb = LoadBalancer(
        "lb",
        LoadBalancerArgs(
            env=s.env,
            labels=s.labels,
            api_hostname=s.api_hostname,
            instance_group=compute.mig.instance_group,
            health_check=compute.health_check.id,
            security_policy=armor.policy.id,
        ),
    )
    storage = EdgeStorage(
        "edge-storage",
        EdgeStorageArgs(
            env=s.env,
            account_id=s.cloudflare_account_id,
            manifest=manifest,
            cors_origins=s.cors_origins,
            protect=s.protect_data,
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
            bundle=bundle or manifest.deploy_path,
            bucket_names={b: n for b, n in storage.bucket_names.items()},
            kv_ids={b: ns.id for b, ns in storage.kv.items()},
            var_overrides=worker_var_overrides(s, manifest),
            secret_values=worker_secrets(s, manifest),
            origin_ip=lb.address.address,
            acme_record=lb.acme_record,
            rate_limit_per_minute=s.rate_limit_per_minute,
            workers_dev_subdomain=s.workers_dev_subdomain,
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
    }
