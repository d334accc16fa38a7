"""Per-stack invariants of the real program, run under pulumi.runtime mocks."""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Callable
from typing import Any

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
SECRET_ENV_VARS = [
    "DATABASE_URL",
    "JWT_PRIVATE_KEY",
    "S3_ACCESS_KEY_ID",
    "S3_SECRET_ACCESS_KEY",
    "WORKERS_AI_API_TOKEN",
    "ORIGIN_SHARED_SECRET",
    "ANTHROPIC_API_KEY",
    "OPENAI_API_KEY",
    "METRICS_TOKEN",
]
GCP = "gcp:compute"
GOOGLE_LB = [ipaddress.IPv4Network(n) for n in ("130.211.0.0/22", "35.191.0.0/16")]
IAP = ipaddress.IPv4Network("35.235.240.0/20")


def _file(script: str, path: str) -> str:
    """Body of the file the startup script writes to `path`."""
    start = script.index(f"cat > {path} <<'PIANO_EOF'\n")
    body_start = script.index("\n", start) + 1
    return script[body_start : script.index("PIANO_EOF\n", body_start)]


def _heredoc(script: str, unit: str) -> str:
    return _file(script, f"/etc/systemd/system/{unit}")


def _zones(stack: str) -> list[str]:
    return json.loads(stack_config(stack)["piano:zones"])


@pytest.mark.parametrize("stack", STACKS)
@pulumi.runtime.test
def test_firewall_admits_only_google_lb_iap_and_our_prometheus(stack: str) -> pulumi.Output[None]:
    def check(m: RecordingMocks) -> None:
        rules = m.of_type(f"{GCP}/firewall:Firewall")
        assert len(rules) == 3, [r.name for r in rules]
        for rule in rules:
            assert rule.inputs["direction"] == "INGRESS"
            if "sourceServiceAccounts" in rule.inputs:
                # Prometheus -> the API instances' service port, keyed on service accounts
                assert "sourceRanges" not in rule.inputs and "targetTags" not in rule.inputs
                assert rule.inputs["sourceServiceAccounts"] == [
                    f"piano-prom-{stack}@fixture.iam.gserviceaccount.com"
                ]
                assert rule.inputs["targetServiceAccounts"] == [
                    f"piano-api-{stack}@fixture.iam.gserviceaccount.com"
                ]
                assert rule.inputs["allows"] == [{"protocol": "tcp", "ports": ["8080"]}]
                continue
            sources = [ipaddress.IPv4Network(s) for s in rule.inputs["sourceRanges"]]
            assert all(any(s.subnet_of(g) for g in [*GOOGLE_LB, IAP]) for s in sources), rule
            if any(s.subnet_of(IAP) for s in sources):
                assert rule.inputs["allows"] == [{"protocol": "tcp", "ports": ["22"]}]
                assert rule.inputs["targetTags"] == ["piano-api", "piano-prometheus"]
            else:
                assert rule.inputs["allows"] == [{"protocol": "tcp", "ports": ["8080"]}]
                assert sorted(map(str, sources)) == sorted(map(str, GOOGLE_LB))
                assert rule.inputs["targetTags"] == ["piano-api"]

    return run_stack(stack).then(check)


@pulumi.runtime.test
def test_iap_ssh_rule_can_be_switched_off() -> pulumi.Output[None]:
    def check(m: RecordingMocks) -> None:
        rules = m.of_type(f"{GCP}/firewall:Firewall")
        assert not [r for r in rules if "35.235.240.0/20" in r.inputs.get("sourceRanges", [])]
        (lb,) = [r for r in rules if "sourceRanges" in r.inputs]
        assert lb.inputs["sourceRanges"] == ["130.211.0.0/22", "35.191.0.0/16"]
        assert lb.inputs["allows"] == [{"protocol": "tcp", "ports": ["8080"]}]

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


def _health_checks(m: RecordingMocks) -> dict[str, dict[str, Any]]:
    return {r.name: r.inputs for r in m.of_type(f"{GCP}/healthCheck:HealthCheck")}


@pytest.mark.parametrize("stack", STACKS)
@pulumi.runtime.test
def test_autohealing_checks_liveness_and_the_load_balancer_checks_readiness(
    stack: str,
) -> pulumi.Output[None]:
    def check(m: RecordingMocks) -> None:
        checks = _health_checks(m)
        assert set(checks) == {"compute-live", "compute-ready"}
        live, ready = checks["compute-live"], checks["compute-ready"]
        assert live["httpHealthCheck"] == {"port": 8080, "requestPath": "/api/live"}
        assert ready["httpHealthCheck"] == {"port": 8080, "requestPath": "/api/ready"}
        mig = m.one(f"{GCP}/regionInstanceGroupManager:RegionInstanceGroupManager").inputs
        assert mig["autoHealingPolicies"]["healthCheck"] == "compute-live-id"
        backend = m.one(f"{GCP}/backendService:BackendService").inputs
        assert backend["healthChecks"] == "compute-ready-id"
        # A database outage fails readiness within ~30 s (traffic stops) ...
        assert ready["checkIntervalSec"] * ready["unhealthyThreshold"] <= 30
        # ... but only a process hung for 5 minutes gets its instance recreated.
        assert live["checkIntervalSec"] * live["unhealthyThreshold"] >= 300
        assert live["unhealthyThreshold"] > ready["unhealthyThreshold"]
        assert backend["timeoutSec"] == 60
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
        "piano:supabasePoolSize": "400",  # 10 replicas need a bigger pooler than staging's
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
        assert healing["healthCheck"] == "compute-live-id"
        boot = int(stack_config(stack).get("piano:expectedBootSeconds", 420))
        assert healing["initialDelaySec"] > boot
        # The first `pulumi up` starts the minimum and waits until it runs; the autoscaler owns
        # the size afterwards.
        assert mig["targetSize"] == int(stack_config(stack).get("piano:minReplicas", 2))
        assert mig["waitForInstances"] is True
        assert mig["waitForInstancesStatus"] == "UPDATED"
        assert m.options["compute-mig"].ignore_changes == ["targetSize"]
        assert mig["versions"][0]["instanceTemplate"].startswith("projects/")
        template = m.one(f"{GCP}/instanceTemplate:InstanceTemplate").inputs
        assert template["namePrefix"] == f"piano-{stack}-"
        assert "name" not in template
        assert template["networkInterfaces"][0].get("accessConfigs") in (None, [])
        assert template["labels"]["role"] == mig["allInstancesConfig"]["labels"]["role"] == "api"

    return run_stack(stack).then(check)


@pytest.mark.parametrize("stack", STACKS)
@pulumi.runtime.test
def test_secrets_are_per_secret_iam_and_secret_outputs(stack: str) -> pulumi.Output[None]:
    def sa(account: str) -> str:
        return f"serviceAccount:piano-{account}-{stack}@fixture.iam.gserviceaccount.com"

    def check(m: RecordingMocks) -> None:
        secrets = m.of_type("gcp:secretmanager/secret:Secret")
        assert len(secrets) == len(FAKE_SECRETS)
        assert all(s.inputs["deletionProtection"] is True for s in secrets)
        bindings = m.of_type("gcp:secretmanager/secretIamMember:SecretIamMember")
        readers: dict[str, set[str]] = {}
        for b in bindings:
            readers.setdefault(b.inputs["secretId"], set()).add(b.inputs["member"])
        assert set(readers) == {s.inputs["secretId"] for s in secrets}
        for secret_id, members in readers.items():
            extra = {
                f"{stack}-database-url": {sa("migrate"), sa("backup")},
                f"{stack}-metrics-token": {sa("prom")},
            }.get(secret_id, set())
            assert members == {sa("api"), *extra}, secret_id
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
            | {d["binding"] for d in manifest.get("analytics_engine_datasets", [])}
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
            # each stack counts on its own namespace, never the local one
            namespace = stack_config(stack)["piano:rateLimitNamespaceId"]
            assert bindings[rl["binding"]]["namespaceId"] == namespace != rl["namespace_id"]
        for ds in manifest["analytics_engine_datasets"]:
            assert bindings[ds["binding"]] == {
                "name": ds["binding"],
                "type": "analytics_engine",
                "dataset": f"{ds['dataset']}_{stack}",
            }
        assert bindings["ORIGIN_HEALTH_PATH"]["text"] == "/api/ready"
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
        # R2 next to the GCP region (europe-west1 -> western Europe)
        assert {b.inputs["location"] for b in m.of_type("cloudflare:index/r2Bucket:R2Bucket")} == {
            "weur"
        }
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
                "gcp:storage/bucket:Bucket",
            }
        }
        assert (data <= m.protected) == (stack == "prod")
        assert m.protected <= data
        versions = m.of_type("gcp:secretmanager/secretVersion:SecretVersion")
        assert {v.inputs["deletionPolicy"] for v in versions} == {"DISABLE"}

    return run_stack(stack).then(check)


@pytest.mark.parametrize("stack", STACKS)
@pulumi.runtime.test
def test_startup_script_installs_the_release_with_its_lock_and_starts_both_units(
    stack: str,
) -> pulumi.Output[None]:
    version = stack_config(stack)["piano:serviceVersion"]
    lock = (INFRA.parent / "requirements.lock").read_text()

    def check(m: RecordingMocks) -> None:
        template = m.one(f"{GCP}/instanceTemplate:InstanceTemplate").inputs
        script = template["metadataStartupScript"]
        assert f"PIANO_VERSION={version}\n" in script
        assert script.count(f"piano-platform=={version}") == 2
        index = "europe-west1-python.pkg.dev/piano-releases-000000/piano-releases/simple/"
        assert f"INDEX=https://{index}\n" in script
        # every VM resolves the same dependency set: the release's own lock, CPU-only torch index
        assert _file(script, "/opt/piano/requirements.lock") == lock
        assert (
            "--constraint /opt/piano/requirements.lock --extra-index-url "
            f"https://download.pytorch.org/whl/cpu piano-platform=={version}\n" in script
        )
        assert "piano-platform[" not in script, "the torch extra is never installed"
        readers = m.of_type("gcp:artifactregistry/repositoryIamMember:RepositoryIamMember")
        assert {r.inputs["member"] for r in readers} == {
            f"serviceAccount:piano-{a}-{stack}@fixture.iam.gserviceaccount.com"
            for a in ("api", "migrate")
        }
        assert {
            (r.inputs["project"], r.inputs["repository"], r.inputs["role"]) for r in readers
        } == {("piano-releases-000000", "piano-releases", "roles/artifactregistry.reader")}
        # migrations run once per release (the migration job), never at boot
        assert "migrate" not in script
        assert (
            "systemctl enable piano-secrets.service piano-api.service piano-worker.service"
            in script
        )
        assert "systemctl restart piano-api.service piano-worker.service" in script
        api, worker = (
            _heredoc(script, "piano-api.service"),
            _heredoc(script, "piano-worker.service"),
        )
        assert (
            "ExecStart=/opt/piano/venv/bin/uvicorn service.main:app --host 0.0.0.0 --port 8080"
            f" --workers {stack_config(stack).get('piano:apiWorkers', '4')} --proxy-headers\n"
            in api
        )
        assert "ExecStart=/opt/piano/venv/bin/python -m service.worker\n" in worker
        for unit, log in ((api, "api"), (worker, "worker")):
            assert "Restart=on-failure\n" in unit
            assert "EnvironmentFile=/etc/piano/secrets.env\n" in unit
            assert "EnvironmentFile=/etc/piano/service.env\n" in unit
            assert "Requires=piano-secrets.service\n" in unit
            assert "User=piano\n" in unit
            assert "WantedBy=multi-user.target" in unit
            assert f"StandardOutput=append:/var/log/piano/{log}.log\n" in unit
        loader = _heredoc(script, "piano-secrets.service")
        assert (
            "ExecStart=/usr/bin/python3 /opt/piano/bin/load_secrets.py env /etc/piano/secrets.env"
            in loader
        )
        # keepalives under Cloud NAT's idle timeout, so pooled connections survive quiet spells
        assert "net.ipv4.tcp_keepalive_time = 300" in _file(
            script, "/etc/sysctl.d/60-piano-keepalive.conf"
        )
        env = _file(script, "/etc/piano/service.env")
        assert f'ENVIRONMENT="{stack}"' in env
        assert 'ORIGIN_ENFORCE="true"' in env
        assert 'LOG_FORMAT="json"' in env
        # deployed stacks re-rank with Workers AI's bge-reranker-base
        assert 'RERANK_PROVIDER="workers-ai"' in env
        for value in FAKE_SECRETS.values():
            assert value not in script

    return run_stack(stack).then(check)


@pytest.mark.parametrize("stack", STACKS)
@pulumi.runtime.test
def test_template_pins_secret_versions_so_a_rotation_rolls_the_fleet(
    stack: str,
) -> pulumi.Output[None]:
    rotated: dict[str, str | None] = {"piano:anthropicApiKey": "sk-ant-api03-rotatedrotatedrotated"}
    pinned: list[dict[str, str]] = []

    def record(m: RecordingMocks) -> None:
        metadata = m.one(f"{GCP}/instanceTemplate:InstanceTemplate").inputs["metadata"]
        versions = json.loads(metadata["piano-secret-versions"])
        assert set(versions) == {*SECRET_ENV_VARS}
        for env_var, name in versions.items():
            assert re.fullmatch(rf"projects/123456/secrets/{stack}-[a-z0-9-]+/versions/\d+", name)
            assert name.split("/")[3] == f"{stack}-{env_var.lower().replace('_', '-')}"
        pinned.append(versions)
        # the other consumers of a secret pin it too
        vm = m.one(f"{GCP}/instance:Instance").inputs["metadata"]
        assert json.loads(vm["piano-secret-versions"]) == {
            "METRICS_TOKEN": versions["METRICS_TOKEN"]
        }
        for job in m.of_type("gcp:cloudrunv2/job:Job"):
            (env,) = [
                e
                for e in job.inputs["template"]["template"]["containers"][0]["envs"]
                if e["name"] == "DATABASE_URL"
            ]
            ref = env["valueSource"]["secretKeyRef"]
            assert ref["version"] == versions["DATABASE_URL"].rsplit("/", 1)[-1]

    def compare() -> None:
        before, after = pinned
        changed = {k for k in before if before[k] != after[k]}
        assert changed == {"ANTHROPIC_API_KEY"}

    first = run_stack(stack).then(record)
    return first.apply(lambda _: _rerun(stack, rotated, record, compare))


def _rerun(
    stack: str,
    overrides: dict[str, str | None],
    record: Callable[[RecordingMocks], None],
    compare: Callable[[], None],
) -> pulumi.Output[None]:
    return run_stack(stack, overrides=overrides).then(record).apply(lambda _: compare())


@pytest.mark.parametrize("stack", STACKS)
@pulumi.runtime.test
def test_outputs(stack: str) -> pulumi.Output[None]:
    run = run_stack(stack)
    cfg = stack_config(stack)
    api_host = cfg["piano:apiHostname"]

    def check(values: dict[str, Any]) -> None:
        assert values["api_url"] == f"https://{api_host}"
        assert values["worker_url"] == f"https://{api_host}/"
        assert values["bucket_names"] == {
            "PDF_BUCKET": f"piano-pdfs-{stack}",
            "KNOWLEDGE_BUCKET": f"piano-knowledge-{stack}",
        }
        assert set(values["kv_ids"]) == {"EMBEDDING_CACHE", "SEARCH_CACHE", "LLM_CACHE"}
        assert values["mig_name"] == f"piano-{stack}-api"
        assert values["nat_ips"] == ["198.51.100.10", "198.51.100.11"]
        assert values["release"]["version"] == cfg["piano:serviceVersion"]
        assert values["release"]["schema_head"] == "0005_chat"
        assert values["backups_bucket"] == f"gs://piano-{stack}-backups"
        assert values["prometheus_instance"] == f"piano-{stack}-prometheus"
        assert values["analytics_dataset"] == f"piano_edge_{stack}"
        assert values["migration_job"].startswith(f"piano-{stack}-migrate-")
        assert "reserved =" in values["db_connection_budget"]

    names = sorted(run.outputs)
    return pulumi.Output.all(*[run.outputs[n] for n in names]).apply(
        lambda vs: check(dict(zip(names, vs, strict=True)))
    )


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
def test_rotation_secrets_can_be_added_and_removed_again() -> pulumi.Output[None]:
    """Rotation step 1 adds piano:originSharedSecretPrevious, step 3 removes it (`pulumi config
    rm`): the secret must then be deletable, i.e. carry neither deletion_protection nor protect,
    even in prod, while every required secret stays protected."""
    overrides: dict[str, str | None] = {"piano:originSharedSecretPrevious": "old-origin-secret"}
    previous = "prod-origin-shared-secret-previous"

    def during(m: RecordingMocks) -> None:
        secrets = {s.inputs["secretId"]: s for s in m.of_type("gcp:secretmanager/secret:Secret")}
        assert previous in secrets
        assert "prod-jwt-accepted-public-keys" not in secrets
        transient = secrets[previous]
        assert transient.inputs["deletionProtection"] is False
        assert transient.inputs["labels"]["lifecycle"] == "rotation"
        assert transient.name not in m.protected
        assert not m.options[transient.name].protect
        for secret_id, secret in secrets.items():
            if secret_id != previous:
                assert secret.inputs["deletionProtection"] is True
                assert secret.name in m.protected  # prod
        bound = {
            b.inputs["secretId"]
            for b in m.of_type("gcp:secretmanager/secretIamMember:SecretIamMember")
        }
        assert bound == set(secrets)
        metadata = m.one(f"{GCP}/instanceTemplate:InstanceTemplate").inputs["metadata"]
        versions = json.loads(metadata["piano-secret-versions"])
        assert versions["ORIGIN_SHARED_SECRET_PREVIOUS"].split("/")[3] == previous
        assert "old-origin-secret" not in json.dumps(
            m.one(f"{GCP}/instanceTemplate:InstanceTemplate").inputs
        )

    def after(m: RecordingMocks) -> None:
        ids = {s.inputs["secretId"] for s in m.of_type("gcp:secretmanager/secret:Secret")}
        assert previous not in ids
        assert len(ids) == len(FAKE_SECRETS)
        metadata = m.one(f"{GCP}/instanceTemplate:InstanceTemplate").inputs["metadata"]
        assert "ORIGIN_SHARED_SECRET_PREVIOUS" not in json.loads(metadata["piano-secret-versions"])

    return (
        run_stack("prod", overrides=overrides)
        .then(during)
        .apply(lambda _: run_stack("prod").then(after))
    )
