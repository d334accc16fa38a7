"""CrossGuard pack: `pulumi preview --policy-pack infra/policypack` runs the validators."""

from piano_policies.pack import policies
from pulumi_policy import EnforcementLevel, PolicyPack

PolicyPack(
    name="piano-platform",
    enforcement_level=EnforcementLevel.MANDATORY,
    policies=policies(),
)
