"""Runs the real Pulumi program for one stack under pulumi.runtime mocks and records what it made.

Every invoke (data source) must be mocked by token here; an unknown token fails the test, so a
new data source cannot slip in unmocked.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
import yaml

INFRA = Path(__file__).resolve().parents[2] / "infra"
FIXTURES = Path(__file__).resolve().parent / "fixtures"
PROJECT = "piano-platform"
IP_RANGES_TOKEN = "cloudflare:index/getIpRanges:getIpRanges"

CLOUDFLARE_IPV4 = [
    "173.245.48.0/20", "103.21.244.0/22", "103.22.200.0/22", "103.31.4.0/22",
    "141.101.64.0/18", "108.162.192.0/18", "190.93.240.0/20", "188.114.96.0/20",
    "197.234.240.0/22", "198.41.128.0/17", "162.158.0.0/15", "104.16.0.0/13",
    "104.24.0.0/14", "172.64.0.0/13", "131.0.72.0/22",
]  # fmt: skip
CLOUDFLARE_IPV6 = [
    "2400:cb00::/32", "2606:4700::/32", "2803:f800::/32", "2405:b500::/32",
    "2405:8100::/32", "2a06:98c0::/29", "2c0f:f248::/32",
]  # fmt: skip

FAKE_SECRETS = {
    "databaseUrl": "postgresql://piano:s3cr3t-db-pass@db.internal:5432/piano",
    "jwtPrivateKey": (
        "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----\n"
    ),
    "r2AccessKeyId": "r2-access-key-id-fake",
    "r2SecretAccessKey": "r2-secret-access-key-fake",
    "workersAiApiToken": "workers-ai-token-fake",
    "originSharedSecret": "origin-shared-secret-fake",
    "anthropicApiKey": "sk-ant-api03-fakefakefakefakefakefake",
    "openaiApiKey": "sk-proj-fakefakefakefakefakefakefake",
    "metricsToken": "metrics-token-fake",
}


@dataclass
class Recorded:
    type: str
    name: str
    inputs: dict[str, Any]
    protect: bool = False


@dataclass
class Run:
    """What one program run produced; `done` resolves once every resource is registered."""

    mocks: RecordingMocks
    outputs: dict[str, object]
    done: pulumi.Output[Any]

    def then(self, check: Callable[[RecordingMocks], None]) -> pulumi.Output[None]:
        return self.done.apply(lambda _: check(self.mocks))


@dataclass
class RecordingMocks(pulumi.runtime.Mocks):
    ipv4: list[str] = field(default_factory=lambda: list(CLOUDFLARE_IPV4))
    ipv6: list[str] = field(default_factory=lambda: list(CLOUDFLARE_IPV6))
    resources: list[Recorded] = field(default_factory=list)
    calls: list[str] = field(default_factory=list)
    protected: set[str] = field(default_factory=set)
    objects: list[pulumi.Resource] = field(default_factory=list)

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        self.resources.append(Recorded(args.typ, args.name, dict(args.inputs)))
        state = dict(args.inputs)
        state.update(_computed(args.typ, args.name, args.inputs))
        return f"{args.name}-id", state

    def call(
        self, args: pulumi.runtime.MockCallArgs
    ) -> tuple[dict[str, Any], list[tuple[str, str]]]:
        self.calls.append(args.token)
        if args.token == IP_RANGES_TOKEN:
            return {"ipv4Cidrs": self.ipv4, "ipv6Cidrs": self.ipv6, "etag": "fixture"}, []
        raise NotImplementedError(f"unmocked data source {args.token}")

    def of_type(self, typ: str) -> list[Recorded]:
        return [r for r in self.resources if r.type == typ]

    def one(self, typ: str) -> Recorded:
        found = self.of_type(typ)
        assert len(found) == 1, f"expected one {typ}, got {[r.name for r in found]}"
        return found[0]


def _computed(typ: str, name: str, inputs: dict[str, Any]) -> dict[str, Any]:
    if typ == "gcp:compute/globalAddress:GlobalAddress":
        return {"address": "203.0.113.10"}
    if typ == "gcp:serviceaccount/account:Account":
        return {"email": f"{inputs['accountId']}@fixture.iam.gserviceaccount.com"}
    if typ == "gcp:compute/regionInstanceGroupManager:RegionInstanceGroupManager":
        return {"instanceGroup": f"zones/fixture/instanceGroups/{inputs['name']}"}
    if typ == "gcp:compute/instanceTemplate:InstanceTemplate":
        return {"selfLinkUnique": f"projects/fixture/global/instanceTemplates/{name}?uniqueId=1"}
    if typ == "gcp:certificatemanager/dnsAuthorization:DnsAuthorization":
        return {
            "dnsResourceRecords": [
                {
                    "name": f"_acme-challenge.{inputs['domain']}.",
                    "type": "CNAME",
                    "data": "0f1e2d3c.1.authorize.certificatemanager.goog.",
                }
            ]
        }
    return {}


def stack_config(stack: str) -> dict[str, str]:
    """Pulumi.<stack>.yaml as the engine hands it to the program, plus fake secret config."""
    raw = yaml.safe_load((INFRA / f"Pulumi.{stack}.yaml").read_text())["config"]
    config = {k: v if isinstance(v, str) else json.dumps(v) for k, v in raw.items()}
    config.update({f"piano:{k}": v for k, v in FAKE_SECRETS.items()})
    return config


def worker_bundle() -> Path | None:
    """The real Worker bundle when this checkout has it, else the fixture."""
    from piano_infra.manifest import load_manifest

    real = load_manifest().deploy_path
    return None if real.is_file() else FIXTURES / "index.js"


def run_stack(
    stack: str,
    mocks: RecordingMocks | None = None,
    overrides: dict[str, str | None] | None = None,
) -> Run:
    """Set mocks + config for `stack`, run the program; call inside a @pulumi.runtime.test."""
    from piano_infra.manifest import load_manifest
    from piano_infra.program import build
    from piano_infra.settings import SECRET_CONFIG_KEYS, load

    mocks = mocks or RecordingMocks()
    pulumi.runtime.set_mocks(mocks, project=PROJECT, stack=stack, preview=False)
    config = stack_config(stack)
    for key, value in (overrides or {}).items():  # None removes a key
        if value is None:
            config.pop(key, None)
        else:
            config[key] = value
    secret_keys = [f"piano:{k}" for k in SECRET_CONFIG_KEYS.values()]
    pulumi.runtime.set_all_config(config, secret_keys)

    def record(args: pulumi.ResourceTransformationArgs) -> None:
        mocks.objects.append(args.resource)
        if args.opts.protect:
            mocks.protected.add(args.name)
        return None

    pulumi.runtime.register_stack_transformation(record)
    outputs = build(load(stack), load_manifest(), worker_bundle())
    done = pulumi.Output.all(*[r.urn for r in mocks.objects])
    return Run(mocks, outputs, done)


SECRET_SIG = "4dabf18193072939515e22adb298388d"
SECRET_MARK = "1b47061264138c4ac30d75fd1eb44270"


def is_secret(value: Any) -> bool:
    return isinstance(value, dict) and value.get(SECRET_SIG) == SECRET_MARK


def unwrap(value: Any) -> Any:
    """Strip secret wrappers from recorded inputs, as the policy engine hands them to a pack."""
    if is_secret(value):
        return unwrap(value["value"])
    if isinstance(value, dict):
        return {k: unwrap(v) for k, v in value.items()}
    if isinstance(value, list):
        return [unwrap(v) for v in value]
    return value
