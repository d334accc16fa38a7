"""Per-model HNSW indexes on the untyped embedding column (the known models ship in migrations)."""

from __future__ import annotations

import hashlib
import re
from typing import Any

from psycopg import AsyncConnection, sql

KNOWN_INDEXES = {
    "sentence-transformers/all-MiniLM-L6-v2": ("document_chunks_hnsw_minilm_l6_v2", 384),
    "@cf/baai/bge-base-en-v1.5": ("document_chunks_hnsw_bge_base_en_v1_5", 768),
    # 0030
    "sentence-transformers/all-MiniLM-L6-v2-onnx-int8": (
        "document_chunks_hnsw_minilm_l6_v2_onnx_int8",
        384,
    ),
}
# pgvector's HNSW index takes vectors of up to 2,000 dimensions.
MAX_HNSW_DIMENSIONS = 2000


def index_name(model: str) -> str:
    if model in KNOWN_INDEXES:
        return KNOWN_INDEXES[model][0]
    slug = re.sub(r"[^a-z0-9]+", "_", model.lower()).strip("_")[:30]
    digest = hashlib.sha256(model.encode()).hexdigest()[:8]
    return f"document_chunks_hnsw_{slug}_{digest}"


async def ensure_vector_index(conn: AsyncConnection[Any], model: str, dim: int) -> str:
    """Creates the model's partial HNSW index if missing (idempotent; needs an autocommit conn).

    Search queries must repeat `embedding::vector(dim)` and `embedding_model = '<model>'` for
    the planner to use it.
    """
    known = KNOWN_INDEXES.get(model)
    if known is not None and known[1] != dim:
        raise ValueError(f"{model} has {known[1]} dimensions, not {dim}")
    if not 1 <= dim <= MAX_HNSW_DIMENSIONS:
        raise ValueError(f"HNSW indexes take 1..{MAX_HNSW_DIMENSIONS} dimensions, not {dim}")
    name = index_name(model)
    statement = sql.SQL(
        "CREATE INDEX CONCURRENTLY IF NOT EXISTS {name} ON document_chunks "
        "USING hnsw ((embedding::vector({dim})) vector_cosine_ops) "
        "WITH (m = 16, ef_construction = 64) WHERE embedding_model = {model}"
    ).format(name=sql.Identifier(name), dim=sql.Literal(dim), model=sql.Literal(model))
    await conn.execute(statement)
    return name
