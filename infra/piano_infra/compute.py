"""Release-registry grant, instance template, regional MIG, autoscaler, health check."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp

from piano_infra.network import INSTANCE_TAG, SERVICE_PORT
from piano_infra.startup import StartupSpec, render

HEALTH_PATH = "/api/health"
BOOT_IMAGE = "debian-cloud/debian-12"
ROLLOUT_TIMEOUT = "45m"  # pulumi up waits until every instance runs the new template


@dataclass
class ComputeArgs:
    env: str
    project: str
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
    service_version: str
    release_repository: ReleaseRepository
    pip_extra_index_url: str | None
    secret_ids: dict[str, str]
    plain_env: dict[str, str]
    network: pulumi.Input[str]
    subnet: pulumi.Input[str]
    service_account_email: pulumi.Input[str]
    service_account_member: pulumi.Input[str]
    # Instances read secrets at boot, so the MIG waits for these (secret versions, IAM).
    boot_dependencies: list[pulumi.Resource]


@dataclass(frozen=True)
class ReleaseRepository:
    """Artifact Registry Python repository holding piano-platform wheels."""

    project: str
    location: str
    name: str

    @property
    def index_url(self) -> str:
        return f"https://{self.location}-python.pkg.dev/{self.project}/{self.name}/simple/"


class Compute(pulumi.ComponentResource):
    """API instances: every instance runs the same pinned release; rollouts never drop capacity."""

    health_check: gcp.compute.HealthCheck
    template: gcp.compute.InstanceTemplate
    mig: gcp.compute.RegionInstanceGroupManager
    autoscaler: gcp.compute.RegionAutoscaler
    startup_script: str

    def __init__(
        self, name: str, args: ComputeArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("platform:compute:Compute", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        # The release repository exists before any stack (wheels are published, then deployed;
        # staging and prod can share it to promote the same artifact); only the read grant is
        # managed here, scoped to that one repository.
        repo = args.release_repository
        registry_reader = gcp.artifactregistry.RepositoryIamMember(
            f"{name}-releases-reader",
            project=repo.project,
            location=repo.location,
            repository=repo.name,
            role="roles/artifactregistry.reader",
            member=args.service_account_member,
            opts=child,
        )
        self.startup_script = render(
            StartupSpec(
                version=args.service_version,
                project=args.project,
                package_index=repo.index_url,
                extra_index=args.pip_extra_index_url,
                secret_ids=args.secret_ids,
                plain_env=args.plain_env,
            )
        )
        self.health_check = gcp.compute.HealthCheck(
            f"{name}-hc",
            name=f"piano-{args.env}-api-health",
            check_interval_sec=30,
            timeout_sec=10,
            healthy_threshold=2,
            unhealthy_threshold=3,
            http_health_check={"port": SERVICE_PORT, "request_path": HEALTH_PATH},
            log_config={"enable": True},
            opts=child,
        )
        self.template = gcp.compute.InstanceTemplate(
            f"{name}-template",
            name_prefix=f"piano-{args.env}-",
            machine_type=args.machine_type,
            region=args.region,
            labels={**args.labels, "version": _label_value(args.service_version)},
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
            shielded_instance_config={
                "enable_secure_boot": True,
                "enable_vtpm": True,
                "enable_integrity_monitoring": True,
            },
            metadata={"enable-oslogin": "TRUE", "block-project-ssh-keys": "TRUE"},
            metadata_startup_script=self.startup_script,
            # A new template per change; the MIG rolls to it, then the old one is deleted.
            opts=pulumi.ResourceOptions(parent=self, delete_before_replace=False),
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
            auto_healing_policies={
                "health_check": self.health_check.id,
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
            all_instances_config={"labels": args.labels},
            # Block `pulumi up` until the rollout finished, so the old template is only
            # deleted once no instance uses it, and a release that never gets healthy
            # fails the update instead of passing silently.
            wait_for_instances=True,
            wait_for_instances_status="UPDATED",
            opts=pulumi.ResourceOptions(
                parent=self,
                depends_on=[registry_reader, *args.boot_dependencies],
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
            opts=child,
        )
        self.register_outputs(
            {
                "mig_name": self.mig.name,
                "instance_group": self.mig.instance_group,
            }
        )


def _label_value(version: str) -> str:
    """GCP label values allow [a-z0-9_-] only."""
    return "".join(c if c.isalnum() or c in "-_" else "-" for c in version.lower())[:63]
