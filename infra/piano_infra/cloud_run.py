"""What the platform's Cloud Run jobs (release migration, weekly backup) share."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi


@dataclass(frozen=True)
class JobEgress:
    """Direct VPC egress: a job leaves through Cloud NAT's static addresses, which Supabase's
    network restrictions allow-list, like the instances do."""

    network: pulumi.Input[str]
    subnet: pulumi.Input[str]

    def vpc_access(self) -> dict[str, Any]:
        return {
            "network_interfaces": [{"network": self.network, "subnetwork": self.subnet}],
            "egress": "ALL_TRAFFIC",
        }


@dataclass(frozen=True)
class PinnedSecret:
    """A Secret Manager secret at one numbered version (never `latest`): a rotation changes the
    job's template, so the job always runs with the value the stack holds."""

    secret: pulumi.Input[str]  # secret id
    version: pulumi.Input[str]  # version number

    def env(self, name: str) -> dict[str, Any]:
        return {
            "name": name,
            "value_source": {"secret_key_ref": {"secret": self.secret, "version": self.version}},
        }
