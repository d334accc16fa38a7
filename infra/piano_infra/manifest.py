"""The Worker binding manifest (worker/bindings.json): the single source of Worker bindings."""

from __future__ import annotations

import json
from dataclasses import dataclass
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

    @property
    def main_module_path(self) -> Path:
        return self.path.parent / self.main_module

    def env_bucket_name(self, spec: R2Spec, env: str) -> str:
        """R2 names are account-global, so each stack gets its own suffixed bucket."""
        return f"{spec.bucket_name}-{env}"

    def env_kv_title(self, spec: KvSpec, env: str) -> str:
        return f"{spec.title}-{env}"


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
        vars={str(k): str(v) for k, v in raw.get("vars", {}).items()},
        secrets=[str(s) for s in raw.get("secrets", [])],
    )
