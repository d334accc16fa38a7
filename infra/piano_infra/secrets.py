"""Secret Manager secrets for the service, readable only by its service account, per secret."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp

ACCESSOR_ROLE = "roles/secretmanager.secretAccessor"


@dataclass
class SecretsArgs:
    env: str
    labels: dict[str, str]
    # env var name -> secret id and value (a secret Output from stack config)
    secret_ids: dict[str, str]
    values: dict[str, pulumi.Output[str]]
    accessor_member: pulumi.Input[str]  # "serviceAccount:..."
    protect: bool = False


class Secrets(pulumi.ComponentResource):
    """One Secret + SecretVersion + SecretIamMember per env var; never a project-wide grant."""

    secrets: dict[str, gcp.secretmanager.Secret]
    versions: dict[str, gcp.secretmanager.SecretVersion]
    bindings: dict[str, gcp.secretmanager.SecretIamMember]

    def __init__(
        self, name: str, args: SecretsArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("platform:secrets:Secrets", name, None, opts)
        data_opts = pulumi.ResourceOptions(parent=self, protect=args.protect)
        self.secrets, self.versions, self.bindings = {}, {}, {}
        for env_var, secret_id in args.secret_ids.items():
            secret = gcp.secretmanager.Secret(
                f"{name}-{secret_id}",
                secret_id=secret_id,
                labels=args.labels,
                replication={"auto": {}},
                deletion_protection=True,
                annotations={"env-var": env_var},
                opts=data_opts,
            )
            self.secrets[env_var] = secret
            self.versions[env_var] = gcp.secretmanager.SecretVersion(
                f"{name}-{secret_id}-v",
                secret=secret.id,
                secret_data=args.values[env_var].apply(pulumi.Output.secret),
                # Rotation replaces the version; the old one is disabled (restorable), not
                # destroyed. Versions are not protected, or rotation could never replace them.
                deletion_policy="DISABLE",
                opts=pulumi.ResourceOptions(parent=self),
            )
            self.bindings[env_var] = gcp.secretmanager.SecretIamMember(
                f"{name}-{secret_id}-accessor",
                secret_id=secret.secret_id,
                role=ACCESSOR_ROLE,
                member=args.accessor_member,
                opts=pulumi.ResourceOptions(parent=self),
            )
        self.register_outputs({"secret_ids": list(args.secret_ids.values())})
