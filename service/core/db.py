"""The psycopg 3 connection pool and the per-request connection dependency."""

from __future__ import annotations

import logging

from psycopg import AsyncConnection
from psycopg.rows import DictRow, dict_row
from psycopg_pool import AsyncConnectionPool

from service.core.config import Settings

log = logging.getLogger(__name__)

Conn = AsyncConnection[DictRow]


Pool = AsyncConnectionPool[Conn]


def create_pool(settings: Settings, database_url: str) -> Pool:
    """Opened by the app lifespan; `open(wait=False)` lets the API start (and report 503) while the DB is down."""
    options = f"-c statement_timeout={settings.db_statement_timeout_ms}"
    return AsyncConnectionPool[Conn](
        conninfo=database_url,
        min_size=settings.db_pool_min_size,
        max_size=settings.db_pool_max_size,
        timeout=settings.db_pool_timeout_seconds,
        # Autocommit: handlers open explicit transactions (conn.transaction()) when they need one.
        kwargs={"row_factory": dict_row, "options": options, "autocommit": True},
        open=False,
        name="api",
    )
