"""Schema migrations are plain SQL files shipped inside the package, applied by yoyo-migrations."""

from __future__ import annotations

import logging
from functools import lru_cache
from importlib import resources
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from yoyo import get_backend, read_migrations

log = logging.getLogger(__name__)

MIGRATION_TABLE = "_yoyo_migration"


class NoMigrationsFound(RuntimeError):
    """An install without its SQL files must not report "nothing to apply" and start serving."""


def migrations_dir() -> Path:
    """service/migrations as installed (package data in the wheel, the source tree when editable)."""
    return Path(str(resources.files("service") / "migrations"))


def yoyo_url(database_url: str) -> str:
    """yoyo picks its driver from the scheme; we always use psycopg 3."""
    parts = urlsplit(database_url)
    scheme = "postgresql+psycopg"
    return urlunsplit((scheme, parts.netloc, parts.path, parts.query, parts.fragment))


def apply_migrations(database_url: str, directory: Path | None = None) -> list[str]:
    """Apply pending migrations under yoyo's advisory lock, so concurrent instances are safe."""
    source = directory or migrations_dir()
    migrations = read_migrations(str(source))
    if len(migrations) == 0:
        raise NoMigrationsFound(f"no migrations found in {source}")
    backend = get_backend(yoyo_url(database_url), migration_table=MIGRATION_TABLE)
    with backend.lock():
        pending = backend.to_apply(migrations)
        backend.apply_migrations(pending)
    applied = [m.id for m in pending]
    if applied:
        log.info("migrations applied", extra={"migrations": applied})
    return applied


@lru_cache(maxsize=1)
def shipped_migration_ids() -> tuple[str, ...]:
    """Ids of the migrations this install carries, in the order yoyo applies them."""
    return tuple(m.id for m in read_migrations(str(migrations_dir())))


APPLIED_MIGRATIONS_SQL = f"SELECT migration_id FROM {MIGRATION_TABLE}"  # noqa: S608

SCHEMA_VERSION_SQL = (
    f"SELECT migration_id FROM {MIGRATION_TABLE} ORDER BY migration_id DESC LIMIT 1"  # noqa: S608
)
