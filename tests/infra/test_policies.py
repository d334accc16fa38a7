"""Each policy catches a violating resource and passes a compliant one; the program passes all."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pulumi
import pytest
from infra_harness import RecordingMocks, run_stack, unwrap
from piano_policies import validators as v
from piano_policies.pack import policies
from pulumi_policy import (
    PolicyCustomTimeouts,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    StackValidationArgs,
)

LABELS = {"env": "prod", "service": "piano-platform"}
NAT_OK = {
    "enableDynamicPortAllocation": True,
    "enableEndpointIndependentMapping": False,
    "minPortsPerVm": 128,
    "maxPortsPerVm": 4096,
    "natIpAllocateOption": "MANUAL_ONLY",
    "natIps": ["projects/p/regions/r/addresses/nat-0"],
}
TEMPLATE = "gcp:compute/instanceTemplate:InstanceTemplate"
VERSION = "projects/1/secrets/prod-database-url/versions/3"


def view(
    typ: str, props: dict[str, Any], protect: bool = False, stack: str = "prod"
) -> v.ResourceView:
    return v.ResourceView(type=typ, name="r", props=props, protect=protect, stack=stack)


CASES: list[tuple[str, v.Validator, v.ResourceView, v.ResourceView]] = [
    (
        "firewall from anywhere",
        v.no_open_ingress,
        view(v.FIREWALL, {"direction": "INGRESS", "sourceRanges": ["0.0.0.0/0"], "allows": [{}]}),
        view(
            v.FIREWALL, {"direction": "INGRESS", "sourceRanges": ["35.191.0.0/16"], "allows": [{}]}
        ),
    ),
    (
        "firewall with no source filter",
        v.no_open_ingress,
        view(v.FIREWALL, {"allows": [{"protocol": "tcp"}]}),
        view(v.FIREWALL, {"allows": [{"protocol": "tcp"}], "sourceTags": ["bastion"]}),
    ),
    (
        "ipv6 anywhere",
        v.no_open_ingress,
        view(v.FIREWALL, {"sourceRanges": ["::/0"]}),
        view(v.FIREWALL, {"direction": "EGRESS", "destinationRanges": ["0.0.0.0/0"]}),
    ),
    (
        "cloud armor allow-all",
        v.no_open_ingress,
        view(
            v.SECURITY_POLICY,
            {
                "rules": [
                    {"action": "allow", "priority": 1, "match": {"config": {"srcIpRanges": ["*"]}}}
                ]
            },
        ),
        view(
            v.SECURITY_POLICY,
            {
                "rules": [
                    {
                        "action": "deny(403)",
                        "priority": 1,
                        "match": {"config": {"srcIpRanges": ["*"]}},
                    }
                ]
            },
        ),
    ),
    (
        "backend without health check",
        v.backend_has_health_check_and_security_policy,
        view("gcp:compute/backendService:BackendService", {"securityPolicy": "p"}),
        view(
            "gcp:compute/backendService:BackendService",
            {"securityPolicy": "p", "healthChecks": "h"},
        ),
    ),
    (
        "backend without security policy",
        v.backend_has_health_check_and_security_policy,
        view("gcp:compute/backendService:BackendService", {"healthChecks": "h"}),
        view(
            "gcp:compute/backendService:BackendService",
            {"healthChecks": "h", "securityPolicy": "p"},
        ),
    ),
    (
        "PEM key in a startup script",
        v.no_plaintext_secrets,
        view(
            "gcp:compute/instanceTemplate:InstanceTemplate",
            {"metadataStartupScript": "echo '-----BEGIN RSA PRIVATE KEY-----'"},
        ),
        view(
            "gcp:compute/instanceTemplate:InstanceTemplate",
            {"metadataStartupScript": "load_secrets.py"},
        ),
    ),
    (
        "database password in metadata",
        v.no_plaintext_secrets,
        view(
            "gcp:compute/instanceTemplate:InstanceTemplate",
            {"metadata": {"db": "postgresql://u:hunter2@db/x"}},
        ),
        view(
            "gcp:compute/instanceTemplate:InstanceTemplate",
            {"metadata": {"db": "postgresql://db/x"}},
        ),
    ),
    (
        "API key as a plain Worker var",
        v.no_plaintext_secrets,
        view(
            v.WORKERS_SCRIPT,
            {
                "bindings": [
                    {"name": "LLM", "type": "plain_text", "text": "sk-ant-api03-abcdefghijkl"}
                ]
            },
        ),
        view(
            v.WORKERS_SCRIPT,
            {
                "bindings": [
                    {"name": "LLM", "type": "secret_text", "text": "sk-ant-api03-abcdefghijkl"}
                ]
            },
        ),
    ),
    (
        "secret-named plain_text binding",
        v.no_plaintext_secrets,
        view(
            v.WORKERS_SCRIPT,
            {"bindings": [{"name": "ORIGIN_SHARED_SECRET", "type": "plain_text", "text": "x"}]},
        ),
        view(
            v.WORKERS_SCRIPT,
            {"bindings": [{"name": "ORIGIN_URL", "type": "plain_text", "text": "https://a"}]},
        ),
    ),
    (
        "OpenAI key outside the secret version",
        v.no_plaintext_secrets,
        view(
            "gcp:secretmanager/secret:Secret",
            {"annotations": {"k": "sk-proj-abcdefghijklmnopqrstuvwx"}},
        ),
        view(v.SECRET_VERSION, {"secretData": "sk-proj-abcdefghijklmnopqrstuvwx"}),
    ),
    (
        "r2.dev public access",
        v.buckets_not_public,
        view(
            "cloudflare:index/r2ManagedDomain:R2ManagedDomain", {"bucketName": "b", "enabled": True}
        ),
        view(
            "cloudflare:index/r2ManagedDomain:R2ManagedDomain",
            {"bucketName": "b", "enabled": False},
        ),
    ),
    (
        "R2 custom domain",
        v.buckets_not_public,
        view(
            "cloudflare:index/r2CustomDomain:R2CustomDomain", {"bucketName": "b", "domain": "cdn.x"}
        ),
        view("cloudflare:index/r2Bucket:R2Bucket", {"name": "b"}),
    ),
    (
        "GCS bucket open to allUsers",
        v.buckets_not_public,
        view(
            "gcp:storage/bucketIAMMember:BucketIAMMember",
            {"member": "allUsers", "role": "roles/storage.objectViewer"},
        ),
        view(
            "gcp:storage/bucketIAMMember:BucketIAMMember",
            {"member": "serviceAccount:a@b", "role": "roles/storage.objectViewer"},
        ),
    ),
    (
        "GCS bucket without public access prevention",
        v.buckets_not_public,
        view("gcp:storage/bucket:Bucket", {"name": "b"}),
        view("gcp:storage/bucket:Bucket", {"name": "b", "publicAccessPrevention": "enforced"}),
    ),
    (
        "GCP resource without labels",
        v.gcp_labels,
        view("gcp:compute/globalAddress:GlobalAddress", {"name": "ip"}),
        view("gcp:compute/globalAddress:GlobalAddress", {"name": "ip", "labels": LABELS}),
    ),
    (
        "GCP resource missing the service label",
        v.gcp_labels,
        view("gcp:secretmanager/secret:Secret", {"labels": {"env": "prod"}}),
        view("gcp:compute/firewall:Firewall", {"name": "fw"}),  # no labels field to carry
    ),
    (
        "unprotected prod bucket",
        v.prod_data_protected,
        view("cloudflare:index/r2Bucket:R2Bucket", {"name": "b"}, protect=False),
        view("cloudflare:index/r2Bucket:R2Bucket", {"name": "b"}, protect=True),
    ),
    (
        "unprotected prod secret (staging may be unprotected)",
        v.prod_data_protected,
        view("gcp:secretmanager/secret:Secret", {}, protect=False, stack="prod"),
        view("gcp:secretmanager/secret:Secret", {}, protect=False, stack="staging"),
    ),
    (
        "a rotation secret must stay removable, even in prod",
        v.prod_data_protected,
        view(
            "gcp:secretmanager/secret:Secret",
            {"labels": {"lifecycle": "rotation"}, "deletionProtection": True},
            protect=False,
        ),
        view(
            "gcp:secretmanager/secret:Secret",
            {"labels": {"lifecycle": "rotation"}, "deletionProtection": False},
            protect=False,
        ),
    ),
    (
        "NAT without dynamic ports",
        v.nat_dynamic_ports,
        view(v.ROUTER_NAT, {**NAT_OK, "enableDynamicPortAllocation": False}),
        view(v.ROUTER_NAT, NAT_OK),
    ),
    (
        "NAT with automatic (unlistable) addresses",
        v.nat_dynamic_ports,
        view(v.ROUTER_NAT, {**NAT_OK, "natIpAllocateOption": "AUTO_ONLY", "natIps": []}),
        view(v.ROUTER_NAT, NAT_OK),
    ),
    (
        "NAT that cannot grow past the static default",
        v.nat_dynamic_ports,
        view(v.ROUTER_NAT, {**NAT_OK, "minPortsPerVm": 32, "maxPortsPerVm": 512}),
        view(v.ROUTER_NAT, {**NAT_OK, "minPortsPerVm": 64, "maxPortsPerVm": 1024}),
    ),
    (
        "migrations in the startup script",
        v.no_migrations_at_boot,
        view(TEMPLATE, {"metadataStartupScript": "/opt/piano/venv/bin/python -m service.migrate"}),
        view(TEMPLATE, {"metadataStartupScript": "python -m service.worker"}),
    ),
    (
        "secrets loaded without pinned versions",
        v.pinned_secret_versions,
        view(TEMPLATE, {"metadataStartupScript": "load_secrets.py env /etc/piano/secrets.env"}),
        view(
            TEMPLATE,
            {
                "metadataStartupScript": "load_secrets.py env /etc/piano/secrets.env",
                "metadata": {"piano-secret-versions": json.dumps({"DATABASE_URL": VERSION})},
            },
        ),
    ),
    (
        "secret pinned to 'latest'",
        v.pinned_secret_versions,
        view(
            TEMPLATE,
            {
                "metadataStartupScript": "load_secrets.py env /x",
                "metadata": {
                    "piano-secret-versions": json.dumps(
                        {"DATABASE_URL": VERSION.replace("/3", "/latest")}
                    )
                },
            },
        ),
        view(TEMPLATE, {"metadataStartupScript": "echo no secrets here"}),
    ),
    (
        "backups bucket without retention",
        v.backups_retained,
        view("gcp:storage/bucket:Bucket", {"name": "piano-prod-backups"}),
        view(
            "gcp:storage/bucket:Bucket",
            {"name": "piano-prod-backups", "retentionPolicy": {"retentionPeriod": "2592000"}},
        ),
    ),
]


@pytest.mark.parametrize(("case", "validator", "bad", "good"), CASES, ids=[c[0] for c in CASES])
def test_policy_catches_violation_and_passes_compliant(
    case: str, validator: v.Validator, bad: v.ResourceView, good: v.ResourceView
) -> None:
    assert validator(bad), f"{case}: violation not reported"
    assert validator(good) == [], f"{case}: compliant resource rejected"


def test_every_policy_has_cases() -> None:
    covered = {c[1] for c in CASES}
    assert covered == {fn for _, fn in v.ALL.values()}


def test_stack_is_read_from_the_urn() -> None:
    urn = "urn:pulumi:prod::piano-platform::cloudflare:index/r2Bucket:R2Bucket::b"
    assert v.ResourceView.stack_from_urn(urn) == "prod"


def _args(typ: str, props: dict[str, Any], protect: bool, stack: str) -> ResourceValidationArgs:
    opts = PolicyResourceOptions(
        protect=protect,
        ignore_changes=[],
        delete_before_replace=None,
        aliases=[],
        custom_timeouts=PolicyCustomTimeouts(0, 0, 0),
        additional_secret_outputs=[],
    )
    urn = f"urn:pulumi:{stack}::piano-platform::{typ}::r"
    return ResourceValidationArgs(typ, props, urn, "r", opts, None)


def test_crossguard_pack_reports_through_the_engine_callback() -> None:
    pack = {p.name: p for p in policies()}
    assert set(pack) == set(v.ALL) | set(v.STACK_ALL)
    reported: list[str] = []
    args = _args("cloudflare:index/r2Bucket:R2Bucket", {"name": "b"}, protect=False, stack="prod")
    pack["prod-data-protected"].validate(args, lambda msg, urn=None: reported.append(msg))
    assert reported and "protect=True" in reported[0]
    reported.clear()
    args = _args("cloudflare:index/r2Bucket:R2Bucket", {"name": "b"}, protect=True, stack="prod")
    pack["prod-data-protected"].validate(args, lambda msg, urn=None: reported.append(msg))
    assert reported == []


def _hc(name: str, path: str, interval: int, threshold: int) -> v.ResourceView:
    props = {
        "httpHealthCheck": {"port": 8080, "requestPath": path},
        "checkIntervalSec": interval,
        "unhealthyThreshold": threshold,
    }
    return v.ResourceView("gcp:compute/healthCheck:HealthCheck", name, props, stack="prod")


def _fleet(live: v.ResourceView, ready: v.ResourceView) -> v.StackView:
    mig = v.ResourceView(next(iter(v.MIGS)), "mig", {}, stack="prod")
    backend = v.ResourceView(
        "gcp:compute/backendService:BackendService", "backend", {}, stack="prod"
    )
    return v.StackView(
        resources=[mig, backend, live, ready],
        property_dependencies={
            "mig": {"autoHealingPolicies": [live.name]},
            "backend": {"healthChecks": [ready.name]},
        },
    )


READY = _hc("ready", "/api/ready", 10, 3)


@pytest.mark.parametrize(
    ("live", "message"),
    [
        (READY, "uses the load balancer's check ready"),
        (_hc("live", "/api/ready", 30, 10), "both check /api/ready"),
        (_hc("live", "/api/live", 10, 3), "must be looser"),
        (_hc("live", "/api/live", 30, 3), "allow at least 180 s"),
    ],
    ids=["same check", "same path", "not looser", "too eager"],
)
def test_autohealing_policy_refuses_readiness_as_liveness(
    live: v.ResourceView, message: str
) -> None:
    assert v.autohealing_not_readiness(_fleet(_hc("live", "/api/live", 30, 10), READY)) == []
    found = v.autohealing_not_readiness(_fleet(live, READY))
    assert any(message in f for f in found), found


def test_autohealing_policy_requires_an_autohealing_check() -> None:
    fleet = _fleet(_hc("live", "/api/live", 30, 10), READY)
    fleet = v.StackView(fleet.resources, {"backend": {"healthChecks": ["ready"]}})
    assert v.autohealing_not_readiness(fleet) == ["mig: no autohealing health check"]


SECURED = """
-- users are public data? no.
CREATE TABLE IF NOT EXISTS users (id uuid primary key);
CREATE UNLOGGED TABLE public.rag_cache (k text);
CREATE TEMP TABLE scratch (x int);
ALTER TABLE users ENABLE ROW LEVEL SECURITY;
ALTER TABLE ONLY public.rag_cache ENABLE ROW LEVEL SECURITY;
"""


@pytest.mark.parametrize(
    ("files", "missing"),
    [
        ({"0001.sql": SECURED}, []),
        # a later migration that enables RLS for earlier tables counts
        (
            {"0001.sql": "CREATE TABLE a (x int); CREATE TABLE \"B\" (y int);", "0002.sql":
             'ALTER TABLE a ENABLE ROW LEVEL SECURITY; ALTER TABLE "B" ENABLE ROW LEVEL SECURITY;'},
            [],
        ),
        ({"0001.sql": "CREATE TABLE a (x int);"}, ["public.a (created in 0001.sql)"]),
        (
            {"0001.sql": SECURED, "0002.sql": "ALTER TABLE users DISABLE ROW LEVEL SECURITY;"},
            ["public.users (created in 0001.sql)"],
        ),
        # dropped tables need nothing; rollback files are not forward migrations
        (
            {"0001.sql": "CREATE TABLE a (x int);", "0002.sql": "DROP TABLE IF EXISTS a CASCADE;",
             "0002.rollback.sql": "CREATE TABLE a (x int);"},
            [],
        ),
        (
            {"0001.sql": "CREATE TABLE a (x int); ALTER TABLE a ENABLE ROW LEVEL SECURITY;",
             "0002.sql": "ALTER TABLE a RENAME TO b; CREATE TABLE c (x int);"},
            ["public.c (created in 0002.sql)"],
        ),
        ({"0001.sql": "/* CREATE TABLE ghost (x int); */ SELECT 1;"}, []),
    ],
    ids=["secured", "later", "missing", "disabled", "dropped", "renamed", "commented"],
)  # fmt: skip
def test_rls_check_reads_the_migrations_in_order(files: dict[str, str], missing: list[str]) -> None:
    assert v.tables_without_rls(files) == missing


def test_rls_policy_reads_the_package_path(tmp_path: Path) -> None:
    empty = v.StackView(resources=[])
    assert v.MIGRATIONS_DIR == v.REPO_ROOT / "service" / "migrations"
    assert v.rls_on_every_table(empty, tmp_path / "service" / "migrations") == [
        "no SQL migrations at service/migrations (the service package ships them)"
    ]
    (tmp_path / "0001_a.sql").write_text("CREATE TABLE a (x int);")
    assert v.rls_on_every_table(empty, tmp_path) == [
        "service/migrations: ENABLE ROW LEVEL SECURITY missing for public.a (created in 0001_a.sql)"
    ]
    (tmp_path / "0002_rls.sql").write_text("ALTER TABLE a ENABLE ROW LEVEL SECURITY;")
    assert v.rls_on_every_table(empty, tmp_path) == []


def _secures_earlier_tables(sql: str) -> bool:
    created = {m.lower() for m in re.findall(r"CREATE TABLE (?:IF NOT EXISTS )?(\w+)", sql, re.I)}
    secured = re.findall(
        r"ALTER TABLE (?:ONLY )?(?:public\.)?(\w+) ENABLE ROW LEVEL SECURITY", sql, re.I
    )
    return any(name.lower() not in created for name in secured)


def test_rls_policy_on_the_service_package() -> None:
    """The service's own migrations leave no table without row level security."""
    files = sorted(v.MIGRATIONS_DIR.glob("*.sql"))
    assert files, f"{v.MIGRATIONS_PACKAGE_PATH} not in this checkout"
    assert v.rls_on_every_table(v.StackView(resources=[])) == []


def _policy_resource(
    typ: str, name: str, props: dict[str, Any], deps: dict[str, list[PolicyResource]]
) -> PolicyResource:
    opts = PolicyResourceOptions(
        protect=False,
        ignore_changes=[],
        delete_before_replace=None,
        aliases=[],
        custom_timeouts=PolicyCustomTimeouts(0, 0, 0),
        additional_secret_outputs=[],
    )
    urn = f"urn:pulumi:prod::piano-platform::{typ}::{name}"
    return PolicyResource(typ, props, urn, name, opts, None, None, [], deps)


def test_crossguard_stack_policy_resolves_references_through_property_dependencies() -> None:
    """In a preview the health checks' IDs are unknown; the engine's property dependencies are
    what tells the policy which check the MIG and the backend use."""
    pack = {p.name: p for p in policies()}
    hc = "gcp:compute/healthCheck:HealthCheck"
    ready = _policy_resource(
        hc,
        "ready",
        {
            "httpHealthCheck": {"requestPath": "/api/ready"},
            "checkIntervalSec": 10,
            "unhealthyThreshold": 3,
        },
        {},
    )
    live = _policy_resource(
        hc,
        "live",
        {
            "httpHealthCheck": {"requestPath": "/api/live"},
            "checkIntervalSec": 30,
            "unhealthyThreshold": 10,
        },
        {},
    )
    backend = _policy_resource(
        "gcp:compute/backendService:BackendService", "backend", {}, {"healthChecks": [ready]}
    )
    for healing, violations in ((live, 0), (ready, 3)):
        mig = _policy_resource(
            next(iter(v.MIGS)),
            "mig",
            {"autoHealingPolicies": {"healthCheck": None}},
            {"autoHealingPolicies": [healing]},
        )
        reported: list[str] = []
        args = StackValidationArgs([ready, live, backend, mig])
        pack["autohealing-not-readiness"].validate(
            args, lambda msg, urn=None, r=reported: r.append(msg)
        )
        assert len(reported) == violations, reported


def _property_dependencies(m: RecordingMocks) -> dict[str, dict[str, list[str]]]:
    """What the engine reports: which resource each property refers to (mock IDs: <name>-id)."""
    names = {f"{r.name}-id": r.name for r in m.resources}
    deps: dict[str, dict[str, list[str]]] = {}
    for r in m.resources:
        for prop, value in r.inputs.items():
            found = [names[s] for s in _strings(value) if s in names]
            if found:
                deps.setdefault(r.name, {})[prop] = found
    return deps


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for x in value.values() for s in _strings(x)]
    if isinstance(value, list):
        return [s for x in value for s in _strings(x)]
    return []


@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
@pulumi.runtime.test
def test_program_passes_every_policy(stack: str) -> pulumi.Output[None]:
    def check(m: RecordingMocks) -> None:
        views = [
            v.ResourceView(r.type, r.name, unwrap(r.inputs), r.name in m.protected, stack)
            for r in m.resources
        ]
        violations = {r.name: found for r in views if (found := v.validate_all(r))}
        assert violations == {}
        assert len(m.resources) > 60
        fleet = v.StackView(views, _property_dependencies(m))
        assert v.autohealing_not_readiness(fleet) == []
        (mig,) = [r for r in views if r.type in v.MIGS]
        assert [
            hc.name for hc in fleet.referenced(mig, "autoHealingPolicies", v.HEALTH_CHECKS)
        ] == ["compute-live"]

    return run_stack(stack).then(check)
