"""Secret Manager secrets for the service, readable only by the accounts that need each one."""

from __future__ import annotations

from dataclasses import dataclass, field

import pulumi
import pulumi_gcp as gcp

from piano_infra.component import PlatformComponent

ACCESSOR_ROLE = "roles/secretmanager.secretAccessor"
# Label on secrets that exist only during a rotation: `pulumi config rm` must be able to delete
# them, so they carry neither deletion_protection nor protect (the policy pack knows the label).
ROTATION_LABEL = {"lifecycle": "rotation"}


@dataclass
class SecretsArgs:
    env: str
    labels: dict[str, str]
    # env var name -> secret id and value (a secret Output from stack config)
    secret_ids: dict[str, str]
    values: dict[str, pulumi.Output[str]]
    accessor_member: pulumi.Input[str]  # "serviceAccount:...": the API instances read every secret
    # env var -> (grant name, member) of other accounts that read that one secret
    extra_accessors: dict[str, list[tuple[str, pulumi.Input[str]]]] = field(default_factory=dict)
    # env vars set only during a rotation (removable)
    transient: set[str] = field(default_factory=set)
    protect: bool = False


class Secrets(PlatformComponent):
    """One Secret + SecretVersion + per-secret SecretIamMembers; never a project-wide grant."""

    secrets: dict[str, gcp.secretmanager.Secret]
    versions: dict[str, gcp.secretmanager.SecretVersion]
    bindings: dict[str, gcp.secretmanager.SecretIamMember]
    extra_bindings: list[gcp.secretmanager.SecretIamMember]

    def __init__(
        self, name: str, args: SecretsArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("platform:secrets:Secrets", name, opts)
        self.secrets, self.versions, self.bindings, self.extra_bindings = {}, {}, {}, []
        for env_var, secret_id in args.secret_ids.items():
            transient = env_var in args.transient
            secret = gcp.secretmanager.Secret(
                f"{name}-{secret_id}",
                secret_id=secret_id,
                labels={**args.labels, **(ROTATION_LABEL if transient else {})},
                replication={"auto": {}},
                deletion_protection=not transient,
                annotations={"env-var": env_var},
                opts=self.child_opts(protect=args.protect and not transient),
            )
            self.secrets[env_var] = secret
            self.versions[env_var] = gcp.secretmanager.SecretVersion(
                f"{name}-{secret_id}-v",
                secret=secret.id,
                secret_data=args.values[env_var].apply(pulumi.Output.secret),
                # Rotation replaces the version; the old one is disabled (restorable), not
                # destroyed. Versions are not protected, or rotation could never replace them.
                deletion_policy="DISABLE",
                opts=self.child_opts(),
            )
            self.bindings[env_var] = gcp.secretmanager.SecretIamMember(
                f"{name}-{secret_id}-accessor",
                secret_id=secret.secret_id,
                role=ACCESSOR_ROLE,
                member=args.accessor_member,
                opts=self.child_opts(),
            )
            for grant, member in args.extra_accessors.get(env_var, []):
                self.extra_bindings.append(
                    gcp.secretmanager.SecretIamMember(
                        f"{name}-{secret_id}-accessor-{grant}",
                        secret_id=secret.secret_id,
                        role=ACCESSOR_ROLE,
                        member=member,
                        opts=self.child_opts(),
                    )
                )
        self.register_outputs({"secret_ids": list(args.secret_ids.values())})

    def version_names(self, env_vars: list[str] | None = None) -> pulumi.Output[dict[str, str]]:
        """env var -> full version name (projects/…/secrets/…/versions/N), for instance metadata.

        A new value creates a new version, so anything built from these names (an instance
        template, a job) changes with it and the fleet rolls onto the new secret.
        """
        wanted = env_vars if env_vars is not None else sorted(self.versions)
        return pulumi.Output.all(*[self.versions[v].name for v in wanted]).apply(
            lambda names: dict(zip(wanted, names, strict=True))
        )
