"""Runs the real Pulumi program for one stack under pulumi.runtime mocks and records what it made.

Every invoke (data source) must be mocked by token here; an unknown token fails the test, so a
new data source cannot slip in unmocked. The release bucket is a fake store answering the real
`getBucketObjectContent` data source with the documented object content.
"""

from __future__ import annotations

import hashlib
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
OBJECT_CONTENT_TOKEN = "gcp:storage/getBucketObjectContent:getBucketObjectContent"
REPO_LOCK = INFRA.parent / "requirements.lock"

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
    "pagerdutyRoutingKey": "fakepagerdutyroutingkey000000000",
    "alertChatWebhookUrl": "https://hooks.slack.com/services/T000/B000/chat-webhook-fake",
}


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def release_files(
    version: str, schema_head: str = "0005_chat", bundle: str | None = None, lock: str | None = None
) -> dict[str, str]:
    """What `make release` publishes for one version: manifest, lock, Worker bundle."""
    bundle = bundle if bundle is not None else worker_bundle().read_text()
    lock = lock if lock is not None else REPO_LOCK.read_text()
    manifest = {
        "version": version,
        "git_sha": _sha256(version)[:40],
        "schema_head": schema_head,
        "wheel": f"piano_platform-{version}-py3-none-any.whl",
        "requirements_lock_sha256": _sha256(lock),
        "worker_bundle_sha256": _sha256(bundle),
    }
    return {
        "manifest.json": json.dumps(manifest),
        "requirements.lock": lock,
        "worker.js": bundle,
    }


@dataclass
class ReleaseStore:
    """gs://<bucket>/piano-platform/<version>/<file> -> content."""

    objects: dict[tuple[str, str], str] = field(default_factory=dict)
    reads: list[str] = field(default_factory=list)

    def publish(self, bucket: str, version: str, files: dict[str, str]) -> None:
        for name, content in files.items():
            self.objects[(bucket, f"piano-platform/{version}/{name}")] = content

    def read(self, bucket: str, name: str) -> str:
        self.reads.append(f"gs://{bucket}/{name}")
        if (bucket, name) not in self.objects:
            raise FileNotFoundError(f"storage: object doesn't exist: gs://{bucket}/{name}")
        return self.objects[(bucket, name)]


def default_store(stack: str) -> ReleaseStore:
    """Every stack's configured version, published to its configured bucket."""
    config = stack_config(stack)
    store = ReleaseStore()
    store.publish(
        config["piano:releaseBucket"],
        config["piano:serviceVersion"],
        release_files(config["piano:serviceVersion"]),
    )
    return store


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
    store: ReleaseStore | None = None
    # resource name -> names of the resources it explicitly depends on (depends_on)
    depends_on: dict[str, set[str]] = field(default_factory=dict)
    # resource name -> its ResourceOptions as the program passed them
    options: dict[str, pulumi.ResourceOptions] = field(default_factory=dict)

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
        if args.token == OBJECT_CONTENT_TOKEN:
            assert self.store is not None, "no release store"
            bucket, name = args.args["bucket"], args.args["name"]
            content = self.store.read(bucket, name)
            return {"bucket": bucket, "name": name, "content": content}, []
        raise NotImplementedError(f"unmocked data source {args.token}")

    def of_type(self, typ: str) -> list[Recorded]:
        return [r for r in self.resources if r.type == typ]

    def one(self, typ: str) -> Recorded:
        found = self.of_type(typ)
        assert len(found) == 1, f"expected one {typ}, got {[r.name for r in found]}"
        return found[0]


def secret_version_number(data: Any) -> str:
    """A new value is a new version (as in Secret Manager), deterministic for the tests."""
    return str(int(_sha256(str(unwrap(data)))[:6], 16))


def _computed(typ: str, name: str, inputs: dict[str, Any]) -> dict[str, Any]:
    if typ == "gcp:compute/globalAddress:GlobalAddress":
        return {"address": "203.0.113.10"}
    if typ == "gcp:compute/address:Address":
        return {
            "address": f"198.51.100.{10 + int(name.rsplit('-', 1)[-1])}",
            "selfLink": f"projects/fixture/regions/r/addresses/{inputs['name']}",
        }
    if typ == "gcp:secretmanager/secretVersion:SecretVersion":
        number = secret_version_number(inputs.get("secretData"))
        secret = str(inputs["secret"]).removesuffix("-id")
        secret = secret.removeprefix("alerting-secrets-").removeprefix("secrets-")
        return {"version": number, "name": f"projects/123456/secrets/{secret}/versions/{number}"}
    if typ == "gcp:storage/bucket:Bucket":
        return {"url": f"gs://{inputs['name']}"}
    if typ == "gcp:serviceaccount/account:Account":
        email = f"{inputs['accountId']}@fixture.iam.gserviceaccount.com"
        return {"email": email, "name": f"projects/fixture/serviceAccounts/{email}"}
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


def worker_bundle() -> Path:
    """The real Worker bundle when this checkout has it, else the fixture."""
    from piano_infra.manifest import load_manifest

    real = load_manifest().deploy_path
    return real if real.is_file() else FIXTURES / "index.js"


def run_stack(
    stack: str,
    mocks: RecordingMocks | None = None,
    overrides: dict[str, str | None] | None = None,
    store: ReleaseStore | None = None,
) -> Run:
    """Set mocks + config for `stack`, run the program; call inside a @pulumi.runtime.test."""
    from piano_infra.manifest import load_manifest
    from piano_infra.program import build
    from piano_infra.settings import (
        ALERTING_SECRET_CONFIG_KEYS,
        OPTIONAL_SECRET_CONFIG_KEYS,
        SECRET_CONFIG_KEYS,
        load,
    )

    mocks = mocks or RecordingMocks()
    mocks.store = store or mocks.store or default_store(stack)
    pulumi.runtime.set_mocks(mocks, project=PROJECT, stack=stack, preview=False)
    config = stack_config(stack)
    for key, value in (overrides or {}).items():  # None removes a key
        if value is None:
            config.pop(key, None)
        else:
            config[key] = value
    secret_keys = [
        f"piano:{k}"
        for keys in (SECRET_CONFIG_KEYS, OPTIONAL_SECRET_CONFIG_KEYS, ALERTING_SECRET_CONFIG_KEYS)
        for k in keys.values()
    ]
    pulumi.runtime.set_all_config(config, secret_keys)

    def record(args: pulumi.ResourceTransformationArgs) -> None:
        mocks.objects.append(args.resource)
        mocks.options[args.name] = args.opts
        if args.opts.protect:
            mocks.protected.add(args.name)
        raw = args.opts.depends_on
        deps: list[object] = list(raw) if isinstance(raw, list) else [raw] if raw else []
        mocks.depends_on[args.name] = {
            d.pulumi_resource_name for d in deps if isinstance(d, pulumi.Resource)
        }
        return None

    pulumi.runtime.register_stack_transformation(record)
    outputs = build(load(stack), load_manifest())
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
