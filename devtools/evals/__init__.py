"""Retrieval evaluation: labelled query sets, ANN recall at scale, and the ef_search sweep."""

import os
from pathlib import Path

from devtools.postgres import start_embedded

# Every eval server (`.local/eval/pg`) starts with these, sized like one serving this data: the
# 100k study's table and HNSW index (650 MB) fit in shared buffers, as pgvector advises for HNSW
# (128 MB, the default, made most index reads go to the OS). Reads are synchronous, as on
# PostgreSQL <= 17 (Supabase), not handed to PostgreSQL 18's I/O workers.
EVAL_SERVER = {"shared_buffers": "1GB", "io_method": "sync"}


def eval_server(local_dir: Path) -> str:
    """The eval server's URL: `EVAL_DATABASE_URL` when set, else the embedded server of
    `local_dir`/eval/pg, started (or attached to) with EVAL_SERVER."""
    return os.environ.get("EVAL_DATABASE_URL") or start_embedded(
        local_dir / "eval" / "pg", server_settings=EVAL_SERVER
    )
