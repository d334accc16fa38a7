"""The API instances' service account and the only project-level roles it holds."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp

# Logs and metrics only. Secret access is granted per secret (secrets.py) and registry access
# per repository (compute.py), never project-wide.
PROJECT_ROLES = ["roles/logging.logWriter", "roles/monitoring.metricWriter"]


@dataclass
class ServiceIdentityArgs:
    env: str
    project: str


class ServiceIdentity(pulumi.ComponentResource):
    """Created first so secrets can grant it access before any instance boots."""

    account: gcp.serviceaccount.Account
    email: pulumi.Output[str]
    member: pulumi.Output[str]

    def __init__(
        self, name: str, args: ServiceIdentityArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("platform:iam:ServiceIdentity", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.account = gcp.serviceaccount.Account(
            f"{name}-sa",
            account_id=f"piano-api-{args.env}",
            display_name=f"piano API instances ({args.env})",
            description="Runs the API and ingestion worker; least privilege",
            opts=child,
        )
        self.email = self.account.email
        self.member = pulumi.Output.concat("serviceAccount:", self.account.email)
        for role in PROJECT_ROLES:
            gcp.projects.IAMMember(
                f"{name}-{role.split('/')[-1]}",
                project=args.project,
                role=role,
                member=self.member,
                opts=child,
            )
        self.register_outputs({"email": self.email})
