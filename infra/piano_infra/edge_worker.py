"""The edge Worker (bindings from the manifest), its route, the rate limit and API DNS records."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_cloudflare as cloudflare

from piano_infra.component import PlatformComponent
from piano_infra.manifest import BindingManifest

RATE_LIMIT_PERIOD_SEC = 60


@dataclass
class EdgeWorkerArgs:
    env: str
    account_id: str
    zone_id: str
    api_hostname: str
    manifest: BindingManifest
    bundle: str  # the release's Worker bundle (one ES module)
    bucket_names: dict[str, pulumi.Input[str]]  # binding -> bucket name
    kv_ids: dict[str, pulumi.Input[str]]  # binding -> namespace id
    var_overrides: dict[str, str]
    secret_values: dict[str, pulumi.Output[str]]  # manifest secret name -> value
    origin_ip: pulumi.Input[str]
    acme_record: pulumi.Input[Any]  # Certificate Manager DNS authorisation record
    rate_limit_per_minute: int
    rate_limit_namespace_id: str
    workers_dev_subdomain: str | None = None
    # The Worker changes after these (the instance group's rollout), so a release's edge never
    # runs ahead of its origin.
    after: list[pulumi.Resource] = field(default_factory=list)


def worker_bindings(
    manifest: BindingManifest,
    bucket_names: dict[str, pulumi.Input[str]],
    kv_ids: dict[str, pulumi.Input[str]],
    var_overrides: dict[str, str],
    secret_values: dict[str, pulumi.Output[str]],
    env: str | None = None,
    rate_limit_namespace_id: str | None = None,
) -> list[cloudflare.WorkersScriptBindingArgsDict]:
    """Every binding in the manifest, nothing else; secrets go in as secret_text Outputs.

    With `env`, account-wide names get the stack's suffix (Analytics Engine datasets), and
    `rate_limit_namespace_id` gives the stack its own rate-limit counters.
    """
    bindings: list[cloudflare.WorkersScriptBindingArgsDict] = []
    for kv in manifest.kv_namespaces:
        bindings.append(
            {"name": kv.binding, "type": "kv_namespace", "namespace_id": kv_ids[kv.binding]}
        )
    for r2 in manifest.r2_buckets:
        bindings.append(
            {"name": r2.binding, "type": "r2_bucket", "bucket_name": bucket_names[r2.binding]}
        )
    if manifest.ai_binding:
        bindings.append({"name": manifest.ai_binding, "type": "ai"})
    unknown = set(var_overrides) - set(manifest.vars)
    if unknown:
        raise ValueError(f"overrides for vars not in the manifest: {sorted(unknown)}")
    effective = {**manifest.vars, **var_overrides}
    for var, value in effective.items():
        bindings.append({"name": var, "type": "plain_text", "text": value})
    for rl in manifest.ratelimits:
        bindings.append(
            {
                "name": rl.binding,
                "type": "ratelimit",
                "namespace_id": rate_limit_namespace_id or rl.namespace_id,
                "simple": {"limit": int(effective[rl.limit_var]), "period": rl.period},
            }
        )
    for ds in manifest.analytics:
        bindings.append(
            {
                "name": ds.binding,
                "type": "analytics_engine",
                "dataset": manifest.env_dataset(ds, env) if env else ds.dataset,
            }
        )
    for secret in manifest.secrets:
        bindings.append(
            {
                "name": secret,
                "type": "secret_text",
                "text": pulumi.Output.secret(secret_values[secret]),
            }
        )
    return bindings


def rate_limit_rule(api_hostname: str, per_minute: int) -> cloudflare.RulesetRuleArgsDict:
    return {
        "ref": "api_rate_limit_per_ip",
        "description": f"{per_minute} requests per minute per client IP on the API",
        "expression": f'(http.host eq "{api_hostname}")',
        "action": "block",
        "ratelimit": {
            "characteristics": ["ip.src", "cf.colo.id"],
            "period": RATE_LIMIT_PERIOD_SEC,
            "requests_per_period": per_minute,
            "mitigation_timeout": RATE_LIMIT_PERIOD_SEC,
        },
        "enabled": True,
    }


class EdgeWorker(PlatformComponent):
    """Cloudflare in front of the origin: proxied DNS, the Worker on the API route, rate limit."""

    script: cloudflare.WorkersScript
    api_record: cloudflare.DnsRecord
    worker_url: pulumi.Output[str]

    def __init__(
        self, name: str, args: EdgeWorkerArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("platform:edge:EdgeWorker", name, opts)
        child = self.child_opts()
        script_name = f"{args.manifest.worker_name}-{args.env}"
        self.script = cloudflare.WorkersScript(
            f"{name}-script",
            account_id=args.account_id,
            script_name=script_name,
            content=args.bundle,
            main_module=args.manifest.deploy_path.name,
            compatibility_date=args.manifest.compatibility_date,
            bindings=worker_bindings(
                args.manifest,
                args.bucket_names,
                args.kv_ids,
                args.var_overrides,
                args.secret_values,
                env=args.env,
                rate_limit_namespace_id=args.rate_limit_namespace_id,
            ),
            observability={"enabled": True},
            opts=self.child_opts(depends_on=args.after),
        )
        self.api_record = cloudflare.DnsRecord(
            f"{name}-api-dns",
            zone_id=args.zone_id,
            name=args.api_hostname,
            type="A",
            content=args.origin_ip,
            proxied=True,
            ttl=1,
            comment=f"piano {args.env} API: Cloudflare proxy -> GCP load balancer",
            opts=child,
        )
        record = pulumi.Output.from_input(args.acme_record)
        cloudflare.DnsRecord(
            f"{name}-acme-dns",
            zone_id=args.zone_id,
            name=record.apply(lambda r: str(_field(r, "name")).rstrip(".")),
            type="CNAME",
            content=record.apply(lambda r: str(_field(r, "data")).rstrip(".")),
            proxied=False,
            ttl=300,
            comment=f"piano {args.env}: Certificate Manager DNS authorisation",
            opts=child,
        )
        cloudflare.WorkersRoute(
            f"{name}-route",
            zone_id=args.zone_id,
            pattern=f"{args.api_hostname}/*",
            script=self.script.script_name,
            opts=child,
        )
        cloudflare.Ruleset(
            f"{name}-ratelimit",
            zone_id=args.zone_id,
            name=f"piano {args.env} API rate limit",
            kind="zone",
            phase="http_ratelimit",
            rules=[rate_limit_rule(args.api_hostname, args.rate_limit_per_minute)],
            opts=child,
        )
        if args.workers_dev_subdomain:
            cloudflare.WorkersScriptSubdomain(
                f"{name}-workers-dev",
                account_id=args.account_id,
                script_name=self.script.script_name,
                enabled=True,
                opts=child,
            )
            self.worker_url = pulumi.Output.from_input(
                f"https://{script_name}.{args.workers_dev_subdomain}.workers.dev"
            )
        else:
            self.worker_url = pulumi.Output.from_input(f"https://{args.api_hostname}/")
        self.register_outputs({"script": self.script.script_name, "worker_url": self.worker_url})


def _field(record: Any, key: str) -> Any:
    """Records arrive as typed outputs in `pulumi up` and as plain dicts in tests."""
    return record[key] if isinstance(record, dict) else getattr(record, key)
