"""Service accounts of the platform, each with only the project roles it needs."""

from __future__ import annotations

from dataclasses import dataclass, field

import pulumi
import pulumi_gcp as gcp

from piano_infra.component import PlatformComponent

# The API instances: logs and metrics only. Secret access is granted per secret (secrets.py)
# and registry access per repository (compute.py), never project-wide.
API_PROJECT_ROLES = ["roles/logging.logWriter", "roles/monitoring.metricWriter"]
# Prometheus discovers the instances through the Compute API (gce_sd_configs).
PROMETHEUS_PROJECT_ROLES = [
    "roles/compute.viewer",
    "roles/logging.logWriter",
    "roles/monitoring.metricWriter",
]
# A deployer attaches these accounts to instances and jobs, which needs actAs on each one.
ACT_AS_ROLE = "roles/iam.serviceAccountUser"


@dataclass
class ServiceIdentityArgs:
    project: str
    account_id: str
    description: str
    project_roles: list[str] = field(default_factory=list)
    # Members that run `pulumi up` (e.g. "serviceAccount:ci@...") and so must act as this account.
    deployers: list[str] = field(default_factory=list)


class ServiceIdentity(PlatformComponent):
    """Created before what uses it, so grants exist before any instance or job starts."""

    account: gcp.serviceaccount.Account
    email: pulumi.Output[str]
    member: pulumi.Output[str]
    # What instances and jobs running as this account must wait for.
    ready: list[pulumi.Resource]

    def __init__(
        self, name: str, args: ServiceIdentityArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("platform:iam:ServiceIdentity", name, opts)
        self.account = gcp.serviceaccount.Account(
            f"{name}-sa",
            account_id=args.account_id,
            display_name=args.description,
            description=f"{args.description}; least privilege",
            opts=self.child_opts(),
        )
        self.email = self.account.email
        self.member = pulumi.Output.concat("serviceAccount:", self.account.email)
        self.ready = [self.account]
        for role in args.project_roles:
            self.ready.append(
                gcp.projects.IAMMember(
                    f"{name}-{role.split('/')[-1]}",
                    project=args.project,
                    role=role,
                    member=self.member,
                    opts=self.child_opts(),
                )
            )
        for i, deployer in enumerate(args.deployers):
            self.ready.append(
                gcp.serviceaccount.IAMMember(
                    f"{name}-act-as-{i}",
                    service_account_id=self.account.name,
                    role=ACT_AS_ROLE,
                    member=deployer,
                    opts=self.child_opts(),
                )
            )
        self.register_outputs({"email": self.email})
