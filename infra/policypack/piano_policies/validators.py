"""Resource validators: pure functions from a resource view to violation messages.

They take the engine's view of a resource (type token, camelCase input properties, protect flag,
stack) so the same functions serve the CrossGuard pack and the unit tests.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

OPEN_RANGES = {"0.0.0.0/0", "::/0", "*"}
REQUIRED_LABELS = ("env", "service")
PROD_STACKS = {"prod"}

FIREWALL = "gcp:compute/firewall:Firewall"
SECURITY_POLICY = "gcp:compute/securityPolicy:SecurityPolicy"
BACKEND_SERVICES = {
    "gcp:compute/backendService:BackendService",
    "gcp:compute/regionBackendService:RegionBackendService",
}
SECRET_VERSION = "gcp:secretmanager/secretVersion:SecretVersion"  # noqa: S105
WORKERS_SCRIPT = "cloudflare:index/workersScript:WorkersScript"

# GCP types that have a `labels` input (most networking types have none to carry).
LABELLED_GCP_TYPES = {
    "gcp:compute/instanceTemplate:InstanceTemplate",
    "gcp:compute/instance:Instance",
    "gcp:compute/disk:Disk",
    "gcp:compute/globalAddress:GlobalAddress",
    "gcp:compute/address:Address",
    "gcp:compute/globalForwardingRule:GlobalForwardingRule",
    "gcp:compute/securityPolicy:SecurityPolicy",
    "gcp:secretmanager/secret:Secret",
    "gcp:artifactregistry/repository:Repository",
    "gcp:certificatemanager/certificate:Certificate",
    "gcp:certificatemanager/certificateMap:CertificateMap",
    "gcp:certificatemanager/certificateMapEntry:CertificateMapEntry",
    "gcp:certificatemanager/dnsAuthorization:DnsAuthorization",
    "gcp:storage/bucket:Bucket",
    "gcp:sql/databaseInstance:DatabaseInstance",
}

# Resources whose loss loses data: must be protected in prod.
DATA_TYPES = {
    "cloudflare:index/r2Bucket:R2Bucket",
    "cloudflare:index/workersKvNamespace:WorkersKvNamespace",
    "gcp:secretmanager/secret:Secret",
    "gcp:storage/bucket:Bucket",
    "gcp:sql/databaseInstance:DatabaseInstance",
}

SECRET_PATTERNS: dict[str, re.Pattern[str]] = {
    "PEM private key": re.compile(r"-----BEGIN (?:[A-Z]+ )*PRIVATE KEY-----"),
    "database URL with a password": re.compile(
        r"\b(?:postgres(?:ql)?|mysql|redis|mongodb(?:\+srv)?)://[^:/@\s]+:[^@\s]+@"
    ),
    "Anthropic API key": re.compile(r"\bsk-ant-[A-Za-z0-9_-]{10,}"),
    "OpenAI API key": re.compile(r"\bsk-(?:proj-)?[A-Za-z0-9_-]{20,}"),
    "AWS access key id": re.compile(r"\bAKIA[0-9A-Z]{16}\b"),
}
SECRET_NAME = re.compile(r"SECRET|TOKEN|PASSWORD|PRIVATE_KEY|API_KEY")


@dataclass(frozen=True)
class ResourceView:
    type: str
    name: str
    props: Mapping[str, Any]
    protect: bool = False
    stack: str = ""

    @staticmethod
    def stack_from_urn(urn: str) -> str:
        """urn:pulumi:<stack>::<project>::<type>::<name>"""
        parts = urn.split("::")
        return parts[0].split(":")[-1] if urn.startswith("urn:pulumi:") else ""


Validator = Callable[[ResourceView], list[str]]


def _ingress_ranges(props: Mapping[str, Any]) -> list[str]:
    return [str(r) for r in props.get("sourceRanges") or []]


def no_open_ingress(r: ResourceView) -> list[str]:
    """No firewall ingress from anywhere, and no Cloud Armor allow rule for anywhere."""
    out: list[str] = []
    if r.type == FIREWALL and str(r.props.get("direction") or "INGRESS") == "INGRESS":
        if not r.props.get("denies"):
            open_ = sorted(OPEN_RANGES & set(_ingress_ranges(r.props)))
            if open_:
                out.append(f"firewall {r.name} allows ingress from {', '.join(open_)}")
            if (
                not r.props.get("sourceRanges")
                and not r.props.get("sourceTags")
                and not r.props.get("sourceServiceAccounts")
            ):
                out.append(f"firewall {r.name} has no source filter (means 0.0.0.0/0)")
    if r.type == SECURITY_POLICY:
        for rule in r.props.get("rules") or []:
            ranges = set(((rule.get("match") or {}).get("config") or {}).get("srcIpRanges") or [])
            if str(rule.get("action", "")).startswith("allow") and OPEN_RANGES & ranges:
                out.append(
                    f"security policy {r.name} rule {rule.get('priority')} allows all sources"
                )
    return out


def backend_has_health_check_and_security_policy(r: ResourceView) -> list[str]:
    if r.type not in BACKEND_SERVICES:
        return []
    out = []
    if not r.props.get("healthChecks"):
        out.append(f"backend service {r.name} has no health check")
    if not r.props.get("securityPolicy"):
        out.append(f"backend service {r.name} has no Cloud Armor security policy")
    return out


def _strings(value: Any, path: str) -> Iterator[tuple[str, str]]:
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, Mapping):
        for k, v in value.items():
            yield from _strings(v, f"{path}.{k}" if path else str(k))
    elif isinstance(value, list | tuple):
        for i, v in enumerate(value):
            yield from _strings(v, f"{path}[{i}]")


def _secret_holding_paths(r: ResourceView) -> set[str]:
    """Inputs that exist to carry a secret (and are marked secret by the program)."""
    if r.type == SECRET_VERSION:
        return {"secretData"}
    if r.type == WORKERS_SCRIPT:
        return {
            f"bindings[{i}].text"
            for i, b in enumerate(r.props.get("bindings") or [])
            if isinstance(b, Mapping) and b.get("type") == "secret_text"
        }
    return set()


def no_plaintext_secrets(r: ResourceView) -> list[str]:
    """Secret-shaped values may only appear in inputs built to hold secrets."""
    allowed = _secret_holding_paths(r)
    out = [
        f"{r.name}: {path} contains a {label}"
        for path, text in _strings(dict(r.props), "")
        if path not in allowed
        for label, pattern in SECRET_PATTERNS.items()
        if pattern.search(text)
    ]
    if r.type == WORKERS_SCRIPT:
        for b in r.props.get("bindings") or []:
            if isinstance(b, Mapping) and b.get("type") == "plain_text":
                if SECRET_NAME.search(str(b.get("name", ""))):
                    out.append(f"{r.name}: binding {b.get('name')} looks secret but is plain_text")
    return out


def buckets_not_public(r: ResourceView) -> list[str]:
    out: list[str] = []
    if r.type == "cloudflare:index/r2ManagedDomain:R2ManagedDomain" and r.props.get("enabled"):
        out.append(f"{r.name}: public r2.dev access is enabled on {r.props.get('bucketName')}")
    if r.type == "cloudflare:index/r2CustomDomain:R2CustomDomain" and r.props.get("enabled", True):
        out.append(f"{r.name}: bucket {r.props.get('bucketName')} is public on a custom domain")
    if r.type == "gcp:storage/bucket:Bucket":
        if r.props.get("publicAccessPrevention") != "enforced":
            out.append(f"{r.name}: GCS bucket without publicAccessPrevention=enforced")
    if r.type.startswith("gcp:storage/bucketIAM"):
        members = [str(m) for m in (r.props.get("members") or [r.props.get("member", "")])]
        if any(m in ("allUsers", "allAuthenticatedUsers") for m in members):
            out.append(f"{r.name}: GCS bucket granted to the public")
    return out


def gcp_labels(r: ResourceView) -> list[str]:
    if not r.type.startswith("gcp:"):
        return []
    if r.type not in LABELLED_GCP_TYPES and "labels" not in r.props:
        return []
    labels = r.props.get("labels") or {}
    missing = [k for k in REQUIRED_LABELS if not labels.get(k)]
    return [f"{r.name}: missing labels {', '.join(missing)}"] if missing else []


def prod_data_protected(r: ResourceView) -> list[str]:
    if r.stack in PROD_STACKS and r.type in DATA_TYPES and not r.protect:
        return [f"{r.name}: {r.type} holds data in {r.stack} and must have protect=True"]
    return []


ALL: dict[str, tuple[str, Validator]] = {
    "no-open-ingress": ("No 0.0.0.0/0 ingress (firewall or Cloud Armor allow)", no_open_ingress),
    "backend-health-and-armor": (
        "Every backend service has a health check and a security policy",
        backend_has_health_check_and_security_policy,
    ),
    "no-plaintext-secrets": (
        "No secret values in resource inputs outside secret-holding fields",
        no_plaintext_secrets,
    ),
    "buckets-not-public": ("Buckets are not publicly readable", buckets_not_public),
    "gcp-env-service-labels": (
        "GCP resources carry env and service labels",
        gcp_labels,
    ),
    "prod-data-protected": ("Prod data resources are protected", prod_data_protected),
}


def validate_all(r: ResourceView) -> dict[str, list[str]]:
    """Every policy's violations for one resource (empty lists dropped)."""
    return {name: found for name, (_, fn) in ALL.items() if (found := fn(r))}
