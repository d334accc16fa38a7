"""The Google APIs the program uses, enabled by the program itself (not by a manual step)."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp

from piano_infra.component import PlatformComponent

REQUIRED_APIS: tuple[str, ...] = (
    "cloudresourcemanager.googleapis.com",  # project IAM bindings, this list itself
    "serviceusage.googleapis.com",
    "iam.googleapis.com",
    "compute.googleapis.com",
    "iap.googleapis.com",  # SSH through IAP (no external addresses)
    "oslogin.googleapis.com",  # instances use OS Login
    "secretmanager.googleapis.com",
    "certificatemanager.googleapis.com",
    "artifactregistry.googleapis.com",
    "storage.googleapis.com",  # backups bucket
    "run.googleapis.com",  # release migration and backup jobs
    "cloudscheduler.googleapis.com",  # weekly backup
    "logging.googleapis.com",  # Ops Agent logs
    "monitoring.googleapis.com",  # Ops Agent host metrics
)


@dataclass
class ProjectApisArgs:
    project: str


class ProjectApis(PlatformComponent):
    """Enabled before anything else; never disabled on destroy (other stacks may share them)."""

    services: dict[str, gcp.projects.Service]

    def __init__(
        self, name: str, args: ProjectApisArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("platform:project:ProjectApis", name, opts)
        self.services = {
            api: gcp.projects.Service(
                f"{name}-{api.split('.')[0]}",
                project=args.project,
                service=api,
                disable_on_destroy=False,
                disable_dependent_services=False,
                opts=self.child_opts(),
            )
            for api in REQUIRED_APIS
        }
        self.register_outputs({"services": list(self.services)})
