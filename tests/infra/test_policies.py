"""Each policy catches a violating resource and passes a compliant one; the program passes all."""

from __future__ import annotations

from typing import Any

import pulumi
import pytest
from infra_harness import RecordingMocks, run_stack, unwrap
from piano_policies import validators as v
from piano_policies.pack import policies
from pulumi_policy import PolicyCustomTimeouts, PolicyResourceOptions, ResourceValidationArgs

LABELS = {"env": "prod", "service": "piano-platform"}


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
    assert set(pack) == set(v.ALL)
    reported: list[str] = []
    args = _args("cloudflare:index/r2Bucket:R2Bucket", {"name": "b"}, protect=False, stack="prod")
    pack["prod-data-protected"].validate(args, lambda msg, urn=None: reported.append(msg))
    assert reported and "protect=True" in reported[0]
    reported.clear()
    args = _args("cloudflare:index/r2Bucket:R2Bucket", {"name": "b"}, protect=True, stack="prod")
    pack["prod-data-protected"].validate(args, lambda msg, urn=None: reported.append(msg))
    assert reported == []


@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
@pulumi.runtime.test
def test_program_passes_every_policy(stack: str) -> pulumi.Output[None]:
    def check(m: RecordingMocks) -> None:
        violations = {
            r.name: found
            for r in m.resources
            if (
                found := v.validate_all(
                    v.ResourceView(r.type, r.name, unwrap(r.inputs), r.name in m.protected, stack)
                )
            )
        }
        assert violations == {}
        assert len(m.resources) > 60

    return run_stack(stack).then(check)
