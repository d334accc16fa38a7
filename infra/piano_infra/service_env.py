"""The environment the service runs with: settings infra owns, plus the operator's serviceEnv map.

Infra owns every setting it derives from the stack (buckets, providers, pool sizes, origin
enforcement); `piano:serviceEnv` carries the rest of the service's non-secret settings
(e.g. `SUPABASE_JWKS_URL`, `ANTHROPIC_MODEL`, `RAG_MAX_IN_FLIGHT`). Secrets never go there.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from urllib.parse import urlsplit

ENV_NAME = re.compile(r"^[A-Z][A-Z0-9_]{0,63}$")
SECRET_LIKE_NAME = re.compile(r"SECRET|TOKEN|PASSWORD|PRIVATE_KEY|API_KEY|CREDENTIAL|DATABASE_URL")

# Values the service accepts (service/core/config.py Settings literals).
AUTH_PROVIDERS = ("local", "supabase")
LLM_PROVIDERS = ("extractive", "workers-ai", "openai-compatible", "anthropic")
RERANK_PROVIDERS = ("none", "workers-ai")
# "local" needs the `local-embeddings` extra (torch), which production never installs.
PRODUCTION_EMBEDDING_PROVIDERS = ("workers-ai", "openai-compatible")


def normalise_value(key: str, value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if not isinstance(value, str):
        raise ValueError(f"piano:serviceEnv.{key} must be a string, number or boolean")
    if "\n" in value or "\r" in value:
        raise ValueError(f"piano:serviceEnv.{key} must be a single line")
    return value


def validate_service_env(values: Mapping[str, object], reserved: set[str]) -> dict[str, str]:
    """Check the map's shape and return it as strings; `reserved` are names infra sets itself."""
    problems: list[str] = []
    out: dict[str, str] = {}
    for key in sorted(values):
        if not ENV_NAME.match(key):
            problems.append(f"{key!r} is not an environment variable name (UPPER_SNAKE_CASE)")
        elif key in reserved:
            problems.append(f"{key} is set by infra from its own piano: key; remove it here")
        elif SECRET_LIKE_NAME.search(key):
            problems.append(
                f"{key} looks like a secret: secrets go through Secret Manager "
                "(pulumi config set --secret), never serviceEnv"
            )
        else:
            try:
                out[key] = normalise_value(key, values[key])
            except ValueError as exc:
                problems.append(str(exc))
    if problems:
        raise ValueError("piano:serviceEnv: " + "; ".join(problems))
    return out


def check_providers(auth: str, embedding: str, llm: str, service_env: Mapping[str, str]) -> None:
    if auth not in AUTH_PROVIDERS:
        raise ValueError(f"piano:authProvider must be one of {', '.join(AUTH_PROVIDERS)}")
    if embedding not in PRODUCTION_EMBEDDING_PROVIDERS:
        raise ValueError(
            "piano:embeddingProvider must be one of "
            f"{', '.join(PRODUCTION_EMBEDDING_PROVIDERS)}: 'local' needs the local-embeddings "
            "extra (torch), which deployed instances do not install"
        )
    if llm not in LLM_PROVIDERS:
        raise ValueError(f"piano:llmProvider must be one of {', '.join(LLM_PROVIDERS)}")
    if auth == "supabase":
        jwks = service_env.get("SUPABASE_JWKS_URL", "")
        parts = urlsplit(jwks)
        if parts.scheme != "https" or not parts.netloc:
            raise ValueError(
                "piano:authProvider=supabase needs piano:serviceEnv.SUPABASE_JWKS_URL, the https "
                "URL of the project's JWKS (https://<ref>.supabase.co/auth/v1/.well-known/"
                "jwks.json); without it every instance fails at start"
            )


def check_database_url(url: str) -> None:
    """Supabase must be reached through the session pooler (see db_budget.py for why)."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if host.endswith(".pooler.supabase.com") and parts.port != 5432:
        raise ValueError(
            "DATABASE_URL uses Supabase's transaction pooler (port 6543); use the session pooler "
            "(port 5432): the job queue needs LISTEN/NOTIFY and psycopg prepares statements"
        )
    if host.startswith("db.") and host.endswith(".supabase.co"):
        raise ValueError(
            "DATABASE_URL uses Supabase's direct host, which is IPv6-only; instances leave "
            "through Cloud NAT over IPv4: use the session pooler "
            "(<user>.<ref>@aws-0-<region>.pooler.supabase.com:5432)"
        )
