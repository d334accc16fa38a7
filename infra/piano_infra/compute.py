"""Release-registry grant, health checks, instance template, regional MIG, autoscaler."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp

from piano_infra.component import PlatformComponent
from piano_infra.network import INSTANCE_TAG, SERVICE_PORT
from piano_infra.release import Release, ReleaseRepository, dns_label
from piano_infra.startup import StartupSpec, render

# The process is up (no database): autohealing recreates an instance only when this fails.
LIVENESS_PATH = "/api/live"
# Database reachable, schema at the release's head, storage reachable: the load balancer sends
# traffic only to instances that pass it. A database outage fails every instance's readiness
# (the LB then has nothing healthy and answers 502s), but must never recreate the fleet.
READINESS_PATH = "/api/ready"
BOOT_IMAGE = "debian-cloud/debian-12"
ROLLOUT_TIMEOUT = "45m"  # pulumi up waits until every instance runs the new template
SECRET_VERSIONS_KEY = "piano-secret-versions"  # noqa: S105 - a metadata key


@dataclass(frozen=True)
class HealthCheckSpec:
    path: str
    interval_sec: int
    timeout_sec: int
    healthy_threshold: int
    unhealthy_threshold: int

    @property
    def seconds_to_unhealthy(self) -> int:
        return self.interval_sec * self.unhealthy_threshold


# Readiness reacts within ~30 s so the LB stops sending to a bad instance quickly.
READINESS = HealthCheckSpec(READINESS_PATH, 10, 5, 2, 3)
# Liveness is deliberately loose: 10 failures 30 s apart (5 min of a hung process) before an
# instance is recreated, because recreating means a full reinstall and minutes of lost capacity.
LIVENESS = HealthCheckSpec(LIVENESS_PATH, 30, 10, 2, 10)


@dataclass
class ComputeArgs:
    env: str
    region: str
    zones: list[str]
    labels: dict[str, str]
    machine_type: str
    boot_disk_gb: int
    min_replicas: int
    max_replicas: int
    cpu_target: float
    autohealing_initial_delay_sec: int
    expected_boot_seconds: int
    release: Release
    release_repository: ReleaseRepository
    pip_extra_index_url: str | None
    api_workers: int
    plain_env: dict[str, str]
    # env var -> pinned secret version name; part of the template, so a rotation rolls the fleet
    secret_versions: pulumi.Input[dict[str, str]]
    network: pulumi.Input[str]
    subnet: pulumi.Input[str]
    service_account_email: pulumi.Input[str]
    service_account_member: pulumi.Input[str]
    # Instances read secrets at boot and the release's schema must be in place first: the MIG
    # waits for these (secret versions, IAM, the release migration).
    boot_dependencies: list[pulumi.Resource]


# Every VM: Secure Boot, vTPM and integrity monitoring on.
SHIELDED_VM: gcp.compute.InstanceTemplateShieldedInstanceConfigArgsDict = {
    "enable_secure_boot": True,
    "enable_vtpm": True,
    "enable_integrity_monitoring": True,
}


def vm_metadata(secret_versions: pulumi.Input[dict[str, str]]) -> dict[str, pulumi.Input[str]]:
    """OS Login only (no project SSH keys), and the pinned secret versions the loader reads."""
    return {
        "enable-oslogin": "TRUE",
        "block-project-ssh-keys": "TRUE",
        SECRET_VERSIONS_KEY: pulumi.Output.from_input(secret_versions).apply(
            lambda versions: json.dumps(versions, sort_keys=True)
        ),
    }


def health_check(
    name: str, env: str, spec: HealthCheckSpec, opts: pulumi.ResourceOptions
) -> gcp.compute.HealthCheck:
    return gcp.compute.HealthCheck(
        name,
        name=f"piano-{env}-api-{spec.path.rsplit('/', 1)[-1]}",
        description=f"GET {spec.path}",
        check_interval_sec=spec.interval_sec,
        timeout_sec=spec.timeout_sec,
        healthy_threshold=spec.healthy_threshold,
        unhealthy_threshold=spec.unhealthy_threshold,
        http_health_check={"port": SERVICE_PORT, "request_path": spec.path},
        log_config={"enable": True},
        opts=opts,
    )


class Compute(PlatformComponent):
    """API instances: every instance runs the same pinned release; rollouts never drop capacity."""

    liveness_check: gcp.compute.HealthCheck
    readiness_check: gcp.compute.HealthCheck
    template: gcp.compute.InstanceTemplate
    mig: gcp.compute.RegionInstanceGroupManager
    autoscaler: gcp.compute.RegionAutoscaler
    startup_script: str

    def __init__(
        self, name: str, args: ComputeArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("platform:compute:Compute", name, opts)
        repo = args.release_repository
        registry_reader = repo.reader(
            f"{name}-releases-reader", args.service_account_member, self.child_opts()
        )
        self.startup_script = render(
            StartupSpec(
                version=args.release.version,
                package_index=repo.index_url,
                requirements_lock=args.release.requirements_lock,
                plain_env=args.plain_env,
                api_workers=args.api_workers,
                extra_index=args.pip_extra_index_url,
            )
        )
        self.liveness_check = health_check(f"{name}-live", args.env, LIVENESS, self.child_opts())
        self.readiness_check = health_check(f"{name}-ready", args.env, READINESS, self.child_opts())
        instance_labels = {**args.labels, "role": "api"}
        self.template = gcp.compute.InstanceTemplate(
            f"{name}-template",
            name_prefix=f"piano-{args.env}-",
            machine_type=args.machine_type,
            region=args.region,
            labels={
                **instance_labels,
                "version": dns_label(args.release.version),
                "schema": dns_label(args.release.schema_head),
            },
            tags=[INSTANCE_TAG],
            disks=[
                {
                    "boot": True,
                    "auto_delete": True,
                    "source_image": BOOT_IMAGE,
                    "disk_size_gb": args.boot_disk_gb,
                    "disk_type": "pd-balanced",
                    "labels": args.labels,
                }
            ],
            network_interfaces=[{"network": args.network, "subnetwork": args.subnet}],
            service_account={
                "email": args.service_account_email,
                "scopes": ["https://www.googleapis.com/auth/cloud-platform"],
            },
            shielded_instance_config=SHIELDED_VM,
            metadata=vm_metadata(args.secret_versions),
            metadata_startup_script=self.startup_script,
            # A new template per change; the MIG rolls to it, then the old one is deleted.
            opts=self.child_opts(delete_before_replace=False),
        )
        zone_count = len(args.zones)
        self.mig = gcp.compute.RegionInstanceGroupManager(
            f"{name}-mig",
            name=f"piano-{args.env}-api",
            base_instance_name=f"piano-{args.env}-api",
            region=args.region,
            distribution_policy_zones=args.zones,
            versions=[{"name": "primary", "instance_template": self.template.self_link_unique}],
            named_ports=[{"name": "http", "port": SERVICE_PORT}],
            # The first `pulumi up` starts the minimum and waits for it (below), so it proves
            # the release boots; afterwards the autoscaler owns the size (ignore_changes).
            target_size=args.min_replicas,
            auto_healing_policies={
                "health_check": self.liveness_check.id,
                "initial_delay_sec": args.autohealing_initial_delay_sec,
            },
            update_policy={
                "type": "PROACTIVE",
                "minimal_action": "REPLACE",
                "replacement_method": "SUBSTITUTE",
                "max_unavailable_fixed": 0,
                "max_surge_fixed": zone_count,
                "instance_redistribution_type": "PROACTIVE",
            },
            all_instances_config={"labels": instance_labels},
            # Block `pulumi up` until the rollout finished, so the old template is only
            # deleted once no instance uses it, and a release that never gets healthy
            # fails the update instead of passing silently.
            wait_for_instances=True,
            wait_for_instances_status="UPDATED",
            opts=self.child_opts(
                depends_on=[registry_reader, *args.boot_dependencies],
                ignore_changes=["targetSize"],
                custom_timeouts=pulumi.CustomTimeouts(
                    create=ROLLOUT_TIMEOUT, update=ROLLOUT_TIMEOUT
                ),
            ),
        )
        self.autoscaler = gcp.compute.RegionAutoscaler(
            f"{name}-autoscaler",
            name=f"piano-{args.env}-api",
            region=args.region,
            target=self.mig.id,
            autoscaling_policy={
                "min_replicas": args.min_replicas,
                "max_replicas": args.max_replicas,
                # initialisation period: ignore a new VM's CPU while it installs and boots
                "cooldown_period": args.expected_boot_seconds,
                "cpu_utilization": {"target": args.cpu_target},
            },
            opts=self.child_opts(),
        )
        self.register_outputs(
            {
                "mig_name": self.mig.name,
                "instance_group": self.mig.instance_group,
            }
        )
