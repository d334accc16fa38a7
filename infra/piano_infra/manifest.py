"""The Worker binding manifest (worker/bindings.json): the single source of Worker bindings."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_MANIFEST = REPO_ROOT / "worker" / "bindings.json"


@dataclass(frozen=True)
class KvSpec:
    binding: str
    title: str


@dataclass(frozen=True)
class R2Spec:
    binding: str
    bucket_name: str


@dataclass(frozen=True)
class RateLimitSpec:
    """Workers rate-limit binding; its limit is read from a var so one setting drives both."""

    binding: str
    namespace_id: str
    period: int
    limit_var: str


@dataclass(frozen=True)
class AnalyticsSpec:
    """Workers Analytics Engine dataset; each stack writes to `<dataset>_<stack>`."""

    binding: str
    dataset: str


@dataclass(frozen=True)
class BindingManifest:
    """Parsed manifest; `path` anchors main_module, which is relative to the manifest's folder."""

    path: Path
    worker_name: str
    main_module: str
    compatibility_date: str
    kv_namespaces: list[KvSpec]
    r2_buckets: list[R2Spec]
    ai_binding: str | None
    vars: dict[str, str]
    secrets: list[str]
    bundle: str | None = None  # built single-module output (e.g. dist/index.js), if any
    ratelimits: list[RateLimitSpec] = field(default_factory=list)
    analytics: list[AnalyticsSpec] = field(default_factory=list)

    @property
    def main_module_path(self) -> Path:
        return self.path.parent / self.main_module

    @property
    def deploy_path(self) -> Path:
        """The file uploaded as the Worker: the bundle when the manifest names one."""
        return self.path.parent / (self.bundle or self.main_module)

    def env_bucket_name(self, spec: R2Spec, env: str) -> str:
        """R2 names are account-global, so each stack gets its own suffixed bucket."""
        return f"{spec.bucket_name}-{env}"

    def env_kv_title(self, spec: KvSpec, env: str) -> str:
        return f"{spec.title}-{env}"

    def env_dataset(self, spec: AnalyticsSpec, env: str) -> str:
        """Analytics Engine datasets are account-wide: one per stack."""
        return f"{spec.dataset}_{env}"


def load_manifest(path: Path = DEFAULT_MANIFEST) -> BindingManifest:
    raw: dict[str, Any] = json.loads(path.read_text())
    ai = raw.get("ai")
    return BindingManifest(
        path=path,
        worker_name=str(raw["worker_name"]),
        main_module=str(raw["main_module"]),
        compatibility_date=str(raw["compatibility_date"]),
        kv_namespaces=[KvSpec(str(k["binding"]), str(k["title"])) for k in raw["kv_namespaces"]],
        r2_buckets=[R2Spec(str(b["binding"]), str(b["bucket_name"])) for b in raw["r2_buckets"]],
        ai_binding=str(ai["binding"]) if ai else None,
        # "$comment" keys document the manifest; dev_vars are local-only and never deployed.
        vars={str(k): str(v) for k, v in raw.get("vars", {}).items() if not k.startswith("$")},
        secrets=[str(s) for s in raw.get("secrets", [])],
        bundle=str(raw["bundle"]) if raw.get("bundle") else None,
        ratelimits=[
            RateLimitSpec(
                binding=str(r["binding"]),
                namespace_id=str(r["namespace_id"]),
                period=int(r["period"]),
                limit_var=str(r["limit_var"]),
            )
            for r in raw.get("ratelimits", [])
        ],
        analytics=[
            AnalyticsSpec(binding=str(a["binding"]), dataset=str(a["dataset"]))
            for a in raw.get("analytics_engine_datasets", [])
        ],
    )
