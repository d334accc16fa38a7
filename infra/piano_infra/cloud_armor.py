"""Cloud Armor policy: only Cloudflare's published ranges may reach the load balancer."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp

from piano_infra.component import PlatformComponent

# Cloud Armor accepts at most 10 source ranges in one basic (SRC_IPS_V1) match.
MAX_RANGES_PER_RULE = 10
FIRST_ALLOW_PRIORITY = 1000
DEFAULT_RULE_PRIORITY = 2147483647


def chunk(ranges: Sequence[str], size: int = MAX_RANGES_PER_RULE) -> list[list[str]]:
    if size < 1:
        raise ValueError("chunk size must be positive")
    return [list(ranges[i : i + size]) for i in range(0, len(ranges), size)]


def allowlist_rules(ranges: Sequence[str]) -> list[gcp.compute.SecurityPolicyRuleArgsDict]:
    """Allow rules of <= 10 ranges each, then the default rule that denies everything else."""
    if not ranges:
        raise ValueError("refusing to build an allow-list from zero ranges (would deny all)")
    rules: list[gcp.compute.SecurityPolicyRuleArgsDict] = [
        {
            "action": "allow",
            "priority": FIRST_ALLOW_PRIORITY + i,
            "description": f"Cloudflare ranges, part {i + 1}",
            "match": {"versioned_expr": "SRC_IPS_V1", "config": {"src_ip_ranges": part}},
        }
        for i, part in enumerate(chunk(sorted(set(ranges))))
    ]
    rules.append(
        {
            "action": "deny(403)",
            "priority": DEFAULT_RULE_PRIORITY,
            "description": "Default: deny anything that is not Cloudflare",
            "match": {"versioned_expr": "SRC_IPS_V1", "config": {"src_ip_ranges": ["*"]}},
        }
    )
    return rules


@dataclass
class CloudArmorArgs:
    env: str
    labels: dict[str, str]
    cloudflare_ranges: pulumi.Input[Sequence[str]]


class CloudArmor(PlatformComponent):
    """Security policy attached to the backend service; ranges come from Cloudflare's API."""

    policy: gcp.compute.SecurityPolicy

    def __init__(
        self, name: str, args: CloudArmorArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("platform:network:CloudArmor", name, opts)
        self.policy = gcp.compute.SecurityPolicy(
            f"{name}-policy",
            name=f"piano-{args.env}-cloudflare-only",
            description="Only Cloudflare may reach the origin load balancer",
            type="CLOUD_ARMOR",
            labels=args.labels,
            rules=pulumi.Output.from_input(args.cloudflare_ranges).apply(allowlist_rules),
            opts=self.child_opts(),
        )
        self.register_outputs({"policy": self.policy.self_link})
