"""Worker bindings from the manifest format the Worker build uses (bundle, rate-limit binding,
$comment keys, dev-only vars), checked on a fixture copy of that format."""

from __future__ import annotations

import json

import pulumi
from infra_harness import FIXTURES
from piano_infra.edge_worker import worker_bindings
from piano_infra.manifest import load_manifest

V2 = FIXTURES / "bindings_v2.json"


def test_manifest_with_bundle_and_ratelimits_maps_to_bindings() -> None:
    raw = json.loads(V2.read_text())
    manifest = load_manifest(V2)
    assert manifest.deploy_path == V2.parent / raw["bundle"]
    bindings = worker_bindings(
        manifest,
        bucket_names={b["binding"]: f"{b['bucket_name']}-prod" for b in raw["r2_buckets"]},
        kv_ids={k["binding"]: f"id-{k['title']}" for k in raw["kv_namespaces"]},
        var_overrides={"ORIGIN_URL": "https://api.example.net", "RATE_LIMIT_PER_MINUTE": "250"},
        secret_values={"ORIGIN_SHARED_SECRET": pulumi.Output.from_input("s")},
    )
    by_name = {b["name"]: b for b in bindings}
    assert len(by_name) == len(bindings)
    plain = {k for k in raw["vars"] if not k.startswith("$")}
    assert {n for n, b in by_name.items() if b["type"] == "plain_text"} == plain
    assert not set(raw["dev_vars"]) - set(raw["vars"]) & set(by_name)
    assert by_name["ORIGIN_URL"]["text"] == "https://api.example.net"
    (rl,) = raw["ratelimits"]
    assert by_name[rl["binding"]] == {
        "name": rl["binding"],
        "type": "ratelimit",
        "namespace_id": rl["namespace_id"],
        "simple": {"limit": 250, "period": rl["period"]},
    }
    assert by_name["ORIGIN_SHARED_SECRET"]["type"] == "secret_text"
