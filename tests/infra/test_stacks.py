"""Per-stack invariants of the real program, run under pulumi.runtime mocks."""

from __future__ import annotations

import ipaddress
import json
import re
from pathlib import Path

import pulumi
import pytest
from infra_harness import (
    CLOUDFLARE_IPV4,
    CLOUDFLARE_IPV6,
    FAKE_SECRETS,
    INFRA,
    IP_RANGES_TOKEN,
    RecordingMocks,
    is_secret,
    run_stack,
    stack_config,
    unwrap,
)

STACKS = ["dev", "staging", "prod"]
GCP = "gcp:compute"
GOOGLE_LB = [ipaddress.IPv4Network(n) for n in ("130.211.0.0/22", "35.191.0.0/16")]
IAP = ipaddress.IPv4Network("35.235.240.0/20")


def _heredoc(script: str, unit: str) -> str:
    """Body of the file the startup script writes to /etc/systemd/system/<unit>."""
    start = script.index(f"cat > /etc/systemd/system/{unit} <<'PIANO_EOF'\n")
    body_start = script.index("\n", start) + 1
    return script[body_start : script.index("PIANO_EOF\n", body_start)]


def _zones(stack: str) -> list[str]:
    return json.loads(stack_config(stack)["piano:zones"])


@pytest.mark.parametrize("stack", STACKS)
@pulumi.runtime.test
def test_firewall_admits_only_google_lb_and_iap(stack: str) -> pulumi.Output[None]:
    def check(m: RecordingMocks) -> None:
        rules = m.of_type(f"{GCP}/firewall:Firewall")
        assert rules, "no firewall rules"
        for rule in rules:
            sources = [ipaddress.IPv4Network(s) for s in rule.inputs["sourceRanges"]]
            assert all(any(s.subnet_of(g) for g in [*GOOGLE_LB, IAP]) for s in sources), rule
            if any(s.subnet_of(IAP) for s in sources):
                assert rule.inputs["allows"] == [{"protocol": "tcp", "ports": ["22"]}]
            else:
                assert rule.inputs["allows"] == [{"protocol": "tcp", "ports": ["8080"]}]
                assert sorted(map(str, sources)) == sorted(map(str, GOOGLE_LB))
            assert rule.inputs["direction"] == "INGRESS"
            assert rule.inputs["targetTags"] == ["piano-api"]

    return run_stack(stack).then(check)


@pulumi.runtime.test
def test_iap_ssh_rule_can_be_switched_off() -> pulumi.Output[None]:
    def check(m: RecordingMocks) -> None:
        (rule,) = m.of_type(f"{GCP}/firewall:Firewall")
        assert rule.inputs["sourceRanges"] == ["130.211.0.0/22", "35.191.0.0/16"]
        assert rule.inputs["allows"] == [{"protocol": "tcp", "ports": ["8080"]}]

    return run_stack("prod", overrides={"piano:allowIapSsh": "false"}).then(check)


@pytest.mark.parametrize("stack", STACKS)
@pulumi.runtime.test
def test_cloud_armor_holds_every_cloudflare_range_in_chunks(stack: str) -> pulumi.Output[None]:
    def check(m: RecordingMocks) -> None:
        assert IP_RANGES_TOKEN in m.calls
        policy = m.one(f"{GCP}/securityPolicy:SecurityPolicy")
        rules = sorted(policy.inputs["rules"], key=lambda r: r["priority"])
        allows, default = rules[:-1], rules[-1]
        allowed = [r for rule in allows for r in rule["match"]["config"]["srcIpRanges"]]
        assert sorted(allowed) == sorted(CLOUDFLARE_IPV4 + CLOUDFLARE_IPV6)
        assert all(rule["action"] == "allow" for rule in allows)
        assert all(len(rule["match"]["config"]["srcIpRanges"]) <= 10 for rule in allows)
        assert len(allows) == 3  # 22 ranges -> 10 + 10 + 2
        assert default["action"].startswith("deny")
        assert default["priority"] == 2147483647
        assert default["match"]["config"]["srcIpRanges"] == ["*"]
        backend = m.one(f"{GCP}/backendService:BackendService")
        assert backend.inputs["securityPolicy"] == "cloud-armor-policy-id"

    return run_stack(stack).then(check)


@pulumi.runtime.test
def test_cloud_armor_follows_the_data_source_not_a_hardcoded_list() -> pulumi.Output[None]:
    ipv4 = [f"198.51.{i}.0/24" for i in range(23)]
    mocks = RecordingMocks(ipv4=ipv4, ipv6=["2001:db8::/32"])

    def check(m: RecordingMocks) -> None:
        rules = m.one(f"{GCP}/securityPolicy:SecurityPolicy").inputs["rules"]
        allowed = [r for rule in rules[:-1] for r in rule["match"]["config"]["srcIpRanges"]]
        assert sorted(allowed) == sorted([*ipv4, "2001:db8::/32"])
        assert [len(rule["match"]["config"]["srcIpRanges"]) for rule in rules[:-1]] == [10, 10, 4]
        assert not set(CLOUDFLARE_IPV4) & set(allowed)

    return run_stack("staging", mocks).then(check)


@pytest.mark.parametrize("stack", STACKS)
@pulumi.runtime.test
def test_health_check_and_backend(stack: str) -> pulumi.Output[None]:
    def check(m: RecordingMocks) -> None:
        hc = m.one(f"{GCP}/healthCheck:HealthCheck").inputs
        assert hc["httpHealthCheck"] == {"port": 8080, "requestPath": "/api/health"}
        assert (hc["checkIntervalSec"], hc["timeoutSec"]) == (30, 10)
        assert (hc["healthyThreshold"], hc["unhealthyThreshold"]) == (2, 3)
        backend = m.one(f"{GCP}/backendService:BackendService").inputs
        assert backend["timeoutSec"] == 60
        assert backend["healthChecks"] == "compute-hc-id"
        assert backend["loadBalancingScheme"] == "EXTERNAL_MANAGED"
        assert backend["backends"][0]["group"].endswith(f"piano-{stack}-api")
        proxy = m.one(f"{GCP}/targetHttpsProxy:TargetHttpsProxy").inputs
        assert proxy["certificateMap"].startswith("//certificatemanager.googleapis.com/")
        rule = m.one(f"{GCP}/globalForwardingRule:GlobalForwardingRule").inputs
        assert (rule["portRange"], rule["ipAddress"]) == ("443", "203.0.113.10")
        cert = m.one("gcp:certificatemanager/certificate:Certificate").inputs
        api_host = stack_config(stack)["piano:apiHostname"]
        assert cert["managed"]["domains"] == [api_host]
        acme = next(
            r
            for r in m.of_type("cloudflare:index/dnsRecord:DnsRecord")
            if r.inputs["type"] == "CNAME"
        )
        assert acme.inputs["name"] == f"_acme-challenge.{api_host}"
        assert acme.inputs["proxied"] is False

    return run_stack(stack).then(check)


@pytest.mark.parametrize("stack", STACKS)
@pulumi.runtime.test
def test_autoscaler_bounds_follow_stack_config(stack: str) -> pulumi.Output[None]:
    cfg = stack_config(stack)

    def check(m: RecordingMocks) -> None:
        policy = m.one(f"{GCP}/regionAutoscaler:RegionAutoscaler").inputs["autoscalingPolicy"]
        assert policy["minReplicas"] == int(cfg.get("piano:minReplicas", 2)) >= 2
        assert policy["maxReplicas"] == int(cfg.get("piano:maxReplicas", 10))
        assert policy["cpuUtilization"]["target"] == pytest.approx(0.7)
        assert policy["cooldownPeriod"] == int(cfg.get("piano:expectedBootSeconds", 420))

    return run_stack(stack).then(check)


@pulumi.runtime.test
def test_autoscaler_defaults_are_the_mvp_sizing() -> pulumi.Output[None]:
    # staging without sizing keys falls back to the defaults: n2-standard-4, 2..10 at 70 % CPU
    overrides: dict[str, str | None] = {
        "piano:minReplicas": None,
        "piano:maxReplicas": None,
        "piano:machineType": None,
    }

    def check(m: RecordingMocks) -> None:
        policy = m.one(f"{GCP}/regionAutoscaler:RegionAutoscaler").inputs["autoscalingPolicy"]
        assert (policy["minReplicas"], policy["maxReplicas"]) == (2, 10)
        template = m.one(f"{GCP}/instanceTemplate:InstanceTemplate").inputs
        assert template["machineType"] == "n2-standard-4"

    return run_stack("staging", overrides=overrides).then(check)


@pytest.mark.parametrize("stack", STACKS)
@pulumi.runtime.test
def test_mig_spans_zones_with_safe_rolling_updates(stack: str) -> pulumi.Output[None]:
    zones = _zones(stack)

    def check(m: RecordingMocks) -> None:
        mig = m.one(f"{GCP}/regionInstanceGroupManager:RegionInstanceGroupManager").inputs
        assert len(mig["distributionPolicyZones"]) >= 2
        assert mig["distributionPolicyZones"] == zones
        policy = mig["updatePolicy"]
        assert policy["type"] == "PROACTIVE"
        assert policy["maxUnavailableFixed"] == 0
        assert policy["maxSurgeFixed"] >= len(zones)
        healing = mig["autoHealingPolicies"]
        assert healing["healthCheck"] == "compute-hc-id"
        boot = int(stack_config(stack).get("piano:expectedBootSeconds", 420))
        assert healing["initialDelaySec"] > boot
        assert mig["versions"][0]["instanceTemplate"].startswith("projects/")
        template = m.one(f"{GCP}/instanceTemplate:InstanceTemplate").inputs
        assert template["namePrefix"] == f"piano-{stack}-"
        assert "name" not in template
        assert template["networkInterfaces"][0].get("accessConfigs") in (None, [])

    return run_stack(stack).then(check)


@pytest.mark.parametrize("stack", STACKS)
@pulumi.runtime.test
def test_secrets_are_per_secret_iam_and_secret_outputs(stack: str) -> pulumi.Output[None]:
    def check(m: RecordingMocks) -> None:
        secrets = m.of_type("gcp:secretmanager/secret:Secret")
        assert len(secrets) == len(FAKE_SECRETS)
        assert all(s.inputs["deletionProtection"] is True for s in secrets)
        bindings = m.of_type("gcp:secretmanager/secretIamMember:SecretIamMember")
        assert sorted(b.inputs["secretId"] for b in bindings) == sorted(
            s.inputs["secretId"] for s in secrets
        )
        sa = f"serviceAccount:piano-api-{stack}@fixture.iam.gserviceaccount.com"
        assert {b.inputs["member"] for b in bindings} == {sa}
        assert {b.inputs["role"] for b in bindings} == {"roles/secretmanager.secretAccessor"}
        project_roles = {r.inputs["role"] for r in m.of_type("gcp:projects/iAMMember:IAMMember")}
        assert not any("secretmanager" in role for role in project_roles)
        assert not m.of_type("gcp:projects/iAMBinding:IAMBinding")
        versions = m.of_type("gcp:secretmanager/secretVersion:SecretVersion")
        assert all(is_secret(v.inputs["secretData"]) for v in versions)
        assert sorted(unwrap(v.inputs["secretData"]) for v in versions) == sorted(
            FAKE_SECRETS.values()
        )

    return run_stack(stack).then(check)


@pytest.mark.parametrize("stack", STACKS)
@pulumi.runtime.test
def test_worker_bindings_equal_the_manifest(stack: str) -> pulumi.Output[None]:
    manifest = json.loads((INFRA.parent / "worker" / "bindings.json").read_text())

    def check(m: RecordingMocks) -> None:
        script = m.one("cloudflare:index/workersScript:WorkersScript").inputs
        deployed = manifest.get("bundle") or manifest["main_module"]
        assert script["mainModule"] == deployed.split("/")[-1]
        assert script["compatibilityDate"] == manifest["compatibility_date"]
        assert script["scriptName"] == f"{manifest['worker_name']}-{stack}"
        bindings = {b["name"]: b for b in unwrap(script["bindings"])}
        expected = (
            {k["binding"] for k in manifest["kv_namespaces"]}
            | {b["binding"] for b in manifest["r2_buckets"]}
            | {manifest["ai"]["binding"]}
            | {v for v in manifest["vars"] if not v.startswith("$")}
            | set(manifest["secrets"])
            | {r["binding"] for r in manifest.get("ratelimits", [])}
        )
        assert set(bindings) == expected
        kv = {
            r.name: r for r in m.of_type("cloudflare:index/workersKvNamespace:WorkersKvNamespace")
        }
        for spec in manifest["kv_namespaces"]:
            b = bindings[spec["binding"]]
            assert b["type"] == "kv_namespace"
            assert b["namespaceId"] == f"edge-storage-{spec['title']}-id"
            assert kv[f"edge-storage-{spec['title']}"].inputs["title"] == f"{spec['title']}-{stack}"
        for spec in manifest["r2_buckets"]:
            assert bindings[spec["binding"]] == {
                "name": spec["binding"],
                "type": "r2_bucket",
                "bucketName": f"{spec['bucket_name']}-{stack}",
            }
        assert bindings[manifest["ai"]["binding"]]["type"] == "ai"
        for var in manifest["vars"]:
            if not var.startswith("$"):
                assert bindings[var]["type"] == "plain_text"
        for rl in manifest.get("ratelimits", []):
            assert bindings[rl["binding"]]["simple"] == {
                "limit": int(bindings[rl["limit_var"]]["text"]),
                "period": rl["period"],
            }
        api_host = stack_config(stack)["piano:apiHostname"]
        assert bindings["ORIGIN_URL"]["text"] == f"https://{api_host}"
        for name in manifest["secrets"]:
            assert bindings[name]["type"] == "secret_text"
        assert is_secret(script["bindings"])
        route = m.one("cloudflare:index/workersRoute:WorkersRoute").inputs
        assert route["pattern"] == f"{api_host}/*"
        assert route["script"] == script["scriptName"]

    return run_stack(stack).then(check)


@pytest.mark.parametrize("stack", STACKS)
@pulumi.runtime.test
def test_edge_storage_rate_limit_and_dns(stack: str) -> pulumi.Output[None]:
    cfg = stack_config(stack)

    def check(m: RecordingMocks) -> None:
        for lifecycle in m.of_type("cloudflare:index/r2BucketLifecycle:R2BucketLifecycle"):
            (rule,) = lifecycle.inputs["rules"]
            assert rule["conditions"] == {"prefix": "temp-uploads/"}
            assert rule["deleteObjectsTransition"]["condition"] == {"type": "Age", "maxAge": 86400}
        assert len(m.of_type("cloudflare:index/r2BucketLifecycle:R2BucketLifecycle")) == 2
        for cors in m.of_type("cloudflare:index/r2BucketCors:R2BucketCors"):
            allowed = cors.inputs["rules"][0]["allowed"]
            assert "PUT" in allowed["methods"]
            assert allowed["origins"] == json.loads(cfg["piano:corsOrigins"])
        ruleset = m.one("cloudflare:index/ruleset:Ruleset").inputs
        assert ruleset["phase"] == "http_ratelimit"
        (rule,) = ruleset["rules"]
        limit = rule["ratelimit"]
        assert limit["requestsPerPeriod"] == int(cfg.get("piano:rateLimitPerMinute", 100))
        assert limit["period"] == 60
        assert "ip.src" in limit["characteristics"]
        assert rule["action"] == "block"
        api = next(
            r for r in m.of_type("cloudflare:index/dnsRecord:DnsRecord") if r.inputs["type"] == "A"
        )
        assert api.inputs["name"] == cfg["piano:apiHostname"]
        assert api.inputs["content"] == "203.0.113.10"
        assert api.inputs["proxied"] is True
        data = {
            r.name
            for r in m.resources
            if r.type
            in {
                "cloudflare:index/r2Bucket:R2Bucket",
                "cloudflare:index/workersKvNamespace:WorkersKvNamespace",
                "gcp:secretmanager/secret:Secret",
            }
        }
        assert (data <= m.protected) == (stack == "prod")
        assert m.protected <= data
        versions = m.of_type("gcp:secretmanager/secretVersion:SecretVersion")
        assert {v.inputs["deletionPolicy"] for v in versions} == {"DISABLE"}

    return run_stack(stack).then(check)


@pytest.mark.parametrize("stack", STACKS)
@pulumi.runtime.test
def test_startup_script_installs_pinned_version_and_starts_both_units(
    stack: str,
) -> pulumi.Output[None]:
    version = stack_config(stack)["piano:serviceVersion"]

    def check(m: RecordingMocks) -> None:
        script = m.one(f"{GCP}/instanceTemplate:InstanceTemplate").inputs["metadataStartupScript"]
        assert f"PIANO_VERSION={version}\n" in script
        assert script.count(f"piano-platform=={version}") == 2
        index = f"europe-west1-python.pkg.dev/piano-{stack}-000000/piano-releases/simple/"
        assert f"INDEX=https://{index}\n" in script
        reader = m.one("gcp:artifactregistry/repositoryIamMember:RepositoryIamMember").inputs
        assert reader["repository"] == "piano-releases"
        assert reader["role"] == "roles/artifactregistry.reader"
        assert (
            reader["member"] == f"serviceAccount:piano-api-{stack}@fixture.iam.gserviceaccount.com"
        )
        assert "systemctl enable piano-secrets.service piano-migrate.service" in script
        assert "systemctl restart piano-api.service piano-worker.service" in script
        api, worker = (
            _heredoc(script, "piano-api.service"),
            _heredoc(script, "piano-worker.service"),
        )
        assert (
            "ExecStart=/opt/piano/venv/bin/uvicorn service.main:app --host 0.0.0.0 --port 8080"
            " --workers 4 --proxy-headers\n" in api
        )
        assert "ExecStart=/opt/piano/venv/bin/python -m service.worker\n" in worker
        for unit in (api, worker):
            assert "Restart=on-failure\n" in unit
            assert "EnvironmentFile=/etc/piano/secrets.env\n" in unit
            assert "EnvironmentFile=/etc/piano/service.env\n" in unit
            assert "Requires=piano-secrets.service piano-migrate.service\n" in unit
            assert "User=piano\n" in unit
            assert "WantedBy=multi-user.target" in unit
        loader = _heredoc(script, "piano-secrets.service")
        assert "ExecStart=/usr/bin/python3 /opt/piano/bin/load_secrets.py" in loader
        assert "chmod 0600 /etc/piano/secrets.json" in script
        assert f'"DATABASE_URL": "{stack}-database-url"' in script
        assert f'ENVIRONMENT="{stack}"' in script
        for value in FAKE_SECRETS.values():
            assert value not in script

    return run_stack(stack).then(check)


@pytest.mark.parametrize("stack", STACKS)
@pulumi.runtime.test
def test_outputs(stack: str) -> pulumi.Output[None]:
    run = run_stack(stack)
    api_host = stack_config(stack)["piano:apiHostname"]

    def check(values: list[object]) -> None:
        api_url, worker_url, buckets, kv_ids, mig = values
        assert api_url == f"https://{api_host}"
        assert worker_url == f"https://{api_host}/"
        assert buckets == {
            "PDF_BUCKET": f"piano-pdfs-{stack}",
            "KNOWLEDGE_BUCKET": f"piano-knowledge-{stack}",
        }
        assert isinstance(kv_ids, dict)
        assert set(kv_ids) == {"EMBEDDING_CACHE", "SEARCH_CACHE", "LLM_CACHE"}
        assert mig == f"piano-{stack}-api"

    o = run.outputs
    return pulumi.Output.all(
        o["api_url"], o["worker_url"], o["bucket_names"], o["kv_ids"], o["mig_name"]
    ).apply(check)


@pulumi.runtime.test
def test_missing_worker_bundle_fails_with_a_clear_message(tmp_path: Path) -> pulumi.Output[None]:
    from piano_infra.manifest import load_manifest
    from piano_infra.program import build
    from piano_infra.settings import load

    run_stack("dev")  # sets mocks + config
    with pytest.raises(FileNotFoundError, match="Worker bundle"):
        build(load("dev"), load_manifest(), tmp_path / "missing.js")
    return pulumi.Output.from_input(None)


@pulumi.runtime.test
def test_every_resource_is_parented_to_a_platform_component() -> pulumi.Output[None]:
    run = run_stack("prod")

    def check(urns: list[str]) -> None:
        # urn:pulumi:<stack>::<project>::pulumi:pulumi:Stack$<parent type>$<type>::<name>
        types = [urn.split("::")[2].removeprefix("pulumi:pulumi:Stack$") for urn in urns]
        components = [t for t in types if "$" not in t]
        assert components, "no components"
        assert all(re.fullmatch(r"platform:[a-z]+:[A-Z][A-Za-z]+", t) for t in components)
        children = [t for t in types if "$" in t]
        assert len(children) > 60
        assert all(t.split("$")[0].startswith("platform:") for t in children)

    return run.done.apply(check)


@pulumi.runtime.test
def test_optional_rotation_secrets_flow_to_secret_manager_and_the_loader() -> pulumi.Output[None]:
    overrides: dict[str, str | None] = {"piano:originSharedSecretPrevious": "old-origin-secret"}

    def check(m: RecordingMocks) -> None:
        ids = {s.inputs["secretId"] for s in m.of_type("gcp:secretmanager/secret:Secret")}
        assert "prod-origin-shared-secret-previous" in ids
        assert "prod-jwt-accepted-public-keys" not in ids
        bound = {
            b.inputs["secretId"]
            for b in m.of_type("gcp:secretmanager/secretIamMember:SecretIamMember")
        }
        assert bound == ids
        script = m.one(f"{GCP}/instanceTemplate:InstanceTemplate").inputs["metadataStartupScript"]
        assert '"ORIGIN_SHARED_SECRET_PREVIOUS": "prod-origin-shared-secret-previous"' in script
        assert "old-origin-secret" not in script

    return run_stack("prod", overrides=overrides).then(check)
