"""Validators: pure functions from the engine's view of resources to violation messages.

Resource validators take one resource (type token, camelCase properties, protect flag, stack);
stack validators take every resource plus which resource each property refers to. The same
functions serve the CrossGuard pack (pack.py) and the unit tests.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
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
ROUTER_NAT = "gcp:compute/routerNat:RouterNat"
HEALTH_CHECKS = {
    "gcp:compute/healthCheck:HealthCheck",
    "gcp:compute/regionHealthCheck:RegionHealthCheck",
}
MIGS = {
    "gcp:compute/regionInstanceGroupManager:RegionInstanceGroupManager",
    "gcp:compute/instanceGroupManager:InstanceGroupManager",
}
VM_TYPES = {
    "gcp:compute/instanceTemplate:InstanceTemplate",
    "gcp:compute/regionInstanceTemplate:RegionInstanceTemplate",
    "gcp:compute/instance:Instance",
}
GCS_BUCKET = "gcp:storage/bucket:Bucket"
# Secrets labelled so exist only during a rotation and must stay removable (`pulumi config rm`).
ROTATION_LABEL = ("lifecycle", "rotation")

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
    labels = r.props.get("labels") or {}
    if labels.get(ROTATION_LABEL[0]) == ROTATION_LABEL[1]:
        # A rotation's transient secret: protecting it would make step 3 (remove it) fail.
        if r.protect or r.props.get("deletionProtection"):
            return [
                f"{r.name}: a rotation secret must stay removable (no protect/deletionProtection)"
            ]
        return []
    if r.stack in PROD_STACKS and r.type in DATA_TYPES and not r.protect:
        return [f"{r.name}: {r.type} holds data in {r.stack} and must have protect=True"]
    return []


# Dynamic allocation must start each VM with at least the static default and be able to grow.
MIN_NAT_PORTS_PER_VM = 64
MIN_NAT_MAX_PORTS_PER_VM = 1024


def nat_dynamic_ports(r: ResourceView) -> list[str]:
    """Cloud NAT gives VMs ports on demand and leaves from static, allow-listable addresses."""
    if r.type != ROUTER_NAT:
        return []
    out = []
    if r.props.get("enableDynamicPortAllocation") is not True:
        out.append(
            f"{r.name}: enable dynamic port allocation (a VM's pooled connections to one "
            "database address each need a port; 64 static ports run out)"
        )
    if r.props.get("enableEndpointIndependentMapping"):
        out.append(f"{r.name}: endpoint-independent mapping cannot be used with dynamic ports")
    # Numbers arrive as floats from the engine (protobuf Struct).
    low, high = r.props.get("minPortsPerVm"), r.props.get("maxPortsPerVm")
    if not isinstance(low, int | float) or low < MIN_NAT_PORTS_PER_VM:
        out.append(f"{r.name}: minPortsPerVm must be at least {MIN_NAT_PORTS_PER_VM}")
    if not isinstance(high, int | float) or high < MIN_NAT_MAX_PORTS_PER_VM:
        out.append(f"{r.name}: maxPortsPerVm must be at least {MIN_NAT_MAX_PORTS_PER_VM}")
    if r.props.get("natIpAllocateOption") != "MANUAL_ONLY" or not r.props.get("natIps"):
        out.append(
            f"{r.name}: use static NAT addresses (MANUAL_ONLY with natIps), so databases "
            "and APIs can allow-list the egress"
        )
    return out


def _startup_script(r: ResourceView) -> str:
    metadata = r.props.get("metadata") or {}
    script = r.props.get("metadataStartupScript") or metadata.get("startup-script") or ""
    return script if isinstance(script, str) else ""


_MIGRATE_AT_BOOT = re.compile(r"service\.migrate|devstack migrate|yoyo apply|piano-migrate")


def no_migrations_at_boot(r: ResourceView) -> list[str]:
    """Migrations run once per release (the migration job), never on every VM boot."""
    if r.type in VM_TYPES and _MIGRATE_AT_BOOT.search(_startup_script(r)):
        return [f"{r.name}: the startup script migrates the database; run it once per release"]
    return []


SECRET_VERSIONS_KEY = "piano-secret-versions"  # noqa: S105 - a metadata key
_VERSION_NAME = re.compile(r"^projects/[^/]+/secrets/[A-Za-z0-9_-]+/versions/[0-9]+$")


def pinned_secret_versions(r: ResourceView) -> list[str]:
    """VMs read secrets by pinned version from their metadata: a new value is a new template."""
    if r.type not in VM_TYPES:
        return []
    script = _startup_script(r)
    if "load_secrets.py" not in script:
        return []
    raw = (r.props.get("metadata") or {}).get(SECRET_VERSIONS_KEY)
    if raw is None:
        return [
            f"{r.name}: loads secrets but its metadata pins no versions ({SECRET_VERSIONS_KEY})"
        ]
    if not isinstance(raw, str):
        return []  # unknown until the versions exist (first preview)
    try:
        versions = json.loads(raw)
    except json.JSONDecodeError:
        return [f"{r.name}: {SECRET_VERSIONS_KEY} is not JSON"]
    bad = sorted(k for k, v in versions.items() if not _VERSION_NAME.match(str(v)))
    return [f"{r.name}: {k} is not pinned to a numbered version" for k in bad]


MIN_BACKUP_RETENTION_DAYS = 7
_DAY = 86400


def backups_retained(r: ResourceView) -> list[str]:
    """A backups bucket keeps every dump for a retention period nobody can shorten by deleting."""
    name = str(r.props.get("name") or "")
    if r.type != GCS_BUCKET or not name.endswith("-backups"):
        return []
    period = str((r.props.get("retentionPolicy") or {}).get("retentionPeriod") or "0")
    days = int(period.rstrip("s")) // _DAY if period.rstrip("s").isdigit() else 0
    if days < MIN_BACKUP_RETENTION_DAYS:
        return [
            f"{r.name}: backups bucket {name} needs a retention policy of at least "
            f"{MIN_BACKUP_RETENTION_DAYS} days (got {days})"
        ]
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
    "nat-dynamic-ports": (
        "Cloud NAT uses dynamic port allocation and static addresses",
        nat_dynamic_ports,
    ),
    "no-migrations-at-boot": ("VMs never migrate the database at boot", no_migrations_at_boot),
    "pinned-secret-versions": (
        "VMs that load secrets pin their versions in the template metadata",
        pinned_secret_versions,
    ),
    "backups-retained": ("Backups buckets have a retention policy", backups_retained),
}


def validate_all(r: ResourceView) -> dict[str, list[str]]:
    """Every policy's violations for one resource (empty lists dropped)."""
    return {name: found for name, (_, fn) in ALL.items() if (found := fn(r))}


# --- stack validators -------------------------------------------------------------------------


@dataclass(frozen=True)
class StackView:
    resources: list[ResourceView]
    # resource name -> property -> names of the resources that property refers to
    property_dependencies: Mapping[str, Mapping[str, list[str]]] = field(default_factory=dict)

    def referenced(self, r: ResourceView, prop: str, types: set[str]) -> list[ResourceView]:
        names = set((self.property_dependencies.get(r.name) or {}).get(prop) or [])
        return [x for x in self.resources if x.name in names and x.type in types]


StackValidator = Callable[[StackView], list[str]]

# The autohealer may recreate an instance only after this long: a recreate is a full reinstall.
MIN_AUTOHEALING_SECONDS = 180


def _check_path(hc: ResourceView) -> str | None:
    for kind in ("httpHealthCheck", "httpsHealthCheck", "http2HealthCheck"):
        spec = hc.props.get(kind)
        if isinstance(spec, Mapping):
            return str(spec.get("requestPath") or "/")
    return None


def _seconds_to_unhealthy(hc: ResourceView) -> int:
    interval = hc.props.get("checkIntervalSec") or 5  # GCE defaults
    threshold = hc.props.get("unhealthyThreshold") or 2
    return int(interval) * int(threshold)


def autohealing_not_readiness(stack: StackView) -> list[str]:
    """Autohealing checks liveness, the load balancer checks readiness, and never the same way.

    A readiness check fails when a dependency (the database) does: used for autohealing, a
    database blip would recreate the whole fleet. The liveness check must also be looser than
    the readiness check, so capacity is withdrawn from the LB long before it is destroyed.
    """
    out: list[str] = []
    lb_checks = [
        hc
        for backend in stack.resources
        if backend.type in BACKEND_SERVICES
        for hc in stack.referenced(backend, "healthChecks", HEALTH_CHECKS)
    ]
    for mig in (r for r in stack.resources if r.type in MIGS):
        healing = stack.referenced(mig, "autoHealingPolicies", HEALTH_CHECKS)
        if not healing:
            out.append(f"{mig.name}: no autohealing health check")
        for heal in healing:
            if _seconds_to_unhealthy(heal) < MIN_AUTOHEALING_SECONDS:
                out.append(
                    f"{mig.name}: autohealing recreates after {_seconds_to_unhealthy(heal)} s; "
                    f"allow at least {MIN_AUTOHEALING_SECONDS} s"
                )
            for lb in lb_checks:
                if heal.name == lb.name:
                    out.append(f"{mig.name}: autohealing uses the load balancer's check {lb.name}")
                elif _check_path(heal) == _check_path(lb):
                    out.append(
                        f"{mig.name}: autohealing and the load balancer both check {_check_path(lb)}"
                    )
                if _seconds_to_unhealthy(heal) <= _seconds_to_unhealthy(lb):
                    out.append(
                        f"{mig.name}: autohealing ({_seconds_to_unhealthy(heal)} s) must be looser "
                        f"than the load balancer's readiness ({_seconds_to_unhealthy(lb)} s)"
                    )
    return out


# The service ships its SQL migrations inside its package: the one place they are read from.
MIGRATIONS_PACKAGE_PATH = "service/migrations"
REPO_ROOT = Path(__file__).resolve().parents[3]
MIGRATIONS_DIR = REPO_ROOT / MIGRATIONS_PACKAGE_PATH

_SQL_COMMENT = re.compile(r"--[^\n]*|/\*.*?\*/", re.S)
_NAME = r'((?:"[^"]+"|[\w$]+)(?:\.(?:"[^"]+"|[\w$]+))?)'
_CREATE = re.compile(
    rf"\bCREATE\s+(?:(?:GLOBAL|LOCAL)\s+)?(TEMP|TEMPORARY|UNLOGGED\s+)?\s*TABLE\s+"
    rf"(?:IF\s+NOT\s+EXISTS\s+)?{_NAME}",
    re.I,
)
_RLS = re.compile(
    rf"\bALTER\s+TABLE\s+(?:IF\s+EXISTS\s+)?(?:ONLY\s+)?{_NAME}\s+"
    r"(ENABLE|DISABLE)\s+ROW\s+LEVEL\s+SECURITY",
    re.I,
)
_DROP = re.compile(r"\bDROP\s+TABLE\s+(?:IF\s+EXISTS\s+)?([^;]+)", re.I)
_RENAME = re.compile(
    rf"\bALTER\s+TABLE\s+(?:IF\s+EXISTS\s+)?(?:ONLY\s+)?{_NAME}\s+RENAME\s+TO\s+{_NAME}", re.I
)


def _table(name: str) -> str:
    parts = [p.strip('"') for p in re.findall(r'"[^"]+"|[\w$]+', name)]
    return ".".join(parts if len(parts) == 2 else ["public", *parts]).lower()


def tables_without_rls(migrations: Mapping[str, str]) -> list[str]:
    """Tables the forward migrations (applied in file-name order) leave without RLS."""
    created: dict[str, str] = {}  # table -> file that created it
    secured: set[str] = set()
    for file in sorted(migrations):
        if file.endswith(".rollback.sql"):
            continue
        sql = _SQL_COMMENT.sub(" ", migrations[file])
        events: list[tuple[int, str, str]] = []
        for m in _CREATE.finditer(sql):
            if not (m.group(1) or "").strip().upper().startswith("TEMP"):
                events.append((m.start(), "create", _table(m.group(2))))
        for m in _RLS.finditer(sql):
            events.append((m.start(), m.group(2).lower(), _table(m.group(1))))
        for m in _DROP.finditer(sql):
            for name in m.group(1).split(","):
                cleaned = re.sub(r"\s+(CASCADE|RESTRICT)\s*$", "", name.strip(), flags=re.I)
                events.append((m.start(), "drop", _table(cleaned)))
        for m in _RENAME.finditer(sql):
            old = _table(m.group(1))
            new = f"{old.split('.')[0]}.{_table(m.group(2)).split('.')[-1]}"
            events.append((m.start(), f"rename:{new}", old))
        for _, event, table in sorted(events):
            if event == "create":
                created[table] = file
                secured.discard(table)
            elif event == "enable":
                secured.add(table)
            elif event == "disable":
                secured.discard(table)
            elif event == "drop":
                created.pop(table, None)
                secured.discard(table)
            elif event.startswith("rename:"):
                new = event.split(":", 1)[1]
                if table in created:
                    created[new] = created.pop(table)
                if table in secured:
                    secured.discard(table)
                    secured.add(new)
    return [f"{t} (created in {f})" for t, f in sorted(created.items()) if t not in secured]


def rls_on_every_table(stack: StackView, migrations_dir: Path = MIGRATIONS_DIR) -> list[str]:
    """Every table the service's migrations create has row level security enabled.

    Supabase's Data API serves every table in `public` to anyone holding the anon key unless RLS
    is on (with no policies, nobody but the owner and roles that bypass RLS can read it).
    """
    files = sorted(migrations_dir.glob("*.sql")) if migrations_dir.is_dir() else []
    if not files:
        return [f"no SQL migrations at {MIGRATIONS_PACKAGE_PATH} (the service package ships them)"]
    missing = tables_without_rls({f.name: f.read_text() for f in files})
    return [
        f"{MIGRATIONS_PACKAGE_PATH}: ENABLE ROW LEVEL SECURITY missing for {t}" for t in missing
    ]


STACK_ALL: dict[str, tuple[str, StackValidator]] = {
    "autohealing-not-readiness": (
        "Autohealing checks liveness, looser than and different from the LB's readiness check",
        autohealing_not_readiness,
    ),
    "rls-on-every-table": (
        "Every table the service's migrations create has row level security enabled",
        rls_on_every_table,
    ),
}
