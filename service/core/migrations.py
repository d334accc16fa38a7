"""Schema migrations are plain SQL files in migrations/, applied by yoyo-migrations."""

from __future__ import annotations

import logging
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from yoyo import get_backend, read_migrations

from service.core.config import REPO_ROOT

log = logging.getLogger(__name__)

MIGRATIONS_DIR = REPO_ROOT / "migrations"
MIGRATION_TABLE = "_yoyo_migration"


def yoyo_url(database_url: str) -> str:
    """yoyo picks its driver from the scheme; we always use psycopg 3."""
    parts = urlsplit(database_url)
    scheme = "postgresql+psycopg"
    return urlunsplit((scheme, parts.netloc, parts.path, parts.query, parts.fragment))


def apply_migrations(database_url: str, directory: Path = MIGRATIONS_DIR) -> list[str]:
    """Apply pending migrations under yoyo's advisory lock, so concurrent instances are safe."""
    backend = get_backend(yoyo_url(database_url), migration_table=MIGRATION_TABLE)
    migrations = read_migrations(str(directory))
    with backend.lock():
        pending = backend.to_apply(migrations)
        backend.apply_migrations(pending)
    applied = [m.id for m in pending]
    if applied:
        log.info("migrations applied", extra={"migrations": applied})
    return applied


SCHEMA_VERSION_SQL = (
    f"SELECT migration_id FROM {MIGRATION_TABLE} ORDER BY migration_id DESC LIMIT 1"  # noqa: S608
)
