"""The edge Worker in real workerd (worker/scripts/dev.mjs), in front of the local API."""

from __future__ import annotations

import json
import secrets
import shutil
from pathlib import Path

from devtools import REPO_ROOT, local_s3
from devtools.devstack.processes import Child, Supervisor
from service.core.config import Settings
from service.core.origin_trust import ORIGIN_SECRET_HEADER
from service.embeddings.factory import local_model_name

DEV_SCRIPT = REPO_ROOT / "worker" / "scripts" / "dev.mjs"


def origin_secret(settings: Settings) -> str:
    """The configured secret, or one generated once into .local/ so API and Worker agree across restarts."""
    configured = settings.origin.shared_secret.get_secret_value()
    if configured:
        return configured
    path: Path = settings.local_dir / "origin-secret"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(32))
        path.chmod(0o600)
    return path.read_text().strip()


def origin_headers(base_url: str, settings: Settings | None = None) -> dict[str, str]:
    """What a local tool sends to reach the API straight (`make up` enforces the origin lock):
    X-Origin-Secret from ORIGIN_SHARED_SECRET or .local/origin-secret, for a loopback API only
    (a deployed stack is reached through its edge, which adds the secret itself)."""
    if local_s3.loopback_address(base_url) is None:
        return {}
    settings = settings or Settings()
    secret = settings.origin.shared_secret.get_secret_value()
    path: Path = settings.local_dir / "origin-secret"
    if not secret and path.is_file():
        secret = path.read_text().strip()
    return {ORIGIN_SECRET_HEADER: secret} if secret else {}


def edge_env(settings: Settings, env: dict[str, str], secret: str) -> dict[str, str]:
    return {
        **env,
        "ORIGIN_URL": f"http://{settings.local.api_host}:{settings.local.api_port}",
        "ORIGIN_SHARED_SECRET": secret,
        "WORKER_HOST": settings.local.api_host,
        "WORKER_PORT": str(settings.local.edge_port),
        "WORKER_PERSIST_DIR": str(settings.local_dir / "worker"),
        "RATE_LIMIT_PER_MINUTE": str(settings.local.edge_rate_limit_per_minute),
        # The Worker's embedding cache key and the model it tells the origin it used.
        "EMBEDDING_MODEL": local_model_name(settings),
        # Local R2 is filled on first read from the API's S3 server (see worker/README.md).
        "LOCAL_S3_ENDPOINT": settings.storage.endpoint_url,
        "LOCAL_S3_REGION": settings.storage.region,
        "LOCAL_S3_ACCESS_KEY_ID": settings.storage.access_key_id,
        "LOCAL_S3_SECRET_ACCESS_KEY": settings.storage.secret_access_key.get_secret_value(),
        "LOCAL_R2_BACKFILL_BUCKETS": json.dumps(
            {
                "PDF_BUCKET": settings.storage.bucket_projects,
                "KNOWLEDGE_BUCKET": settings.storage.bucket_knowledge,
            }
        ),
    }


def start_edge(
    sup: Supervisor, settings: Settings, env: dict[str, str], secret: str
) -> Child | None:
    node = shutil.which("node")
    if node is None:
        print("!! node not found: the edge Worker is not started (the API still is)", flush=True)
        return None
    return sup.start("edge", [node, str(DEV_SCRIPT)], edge_env(settings, env, secret))
