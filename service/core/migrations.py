"""Schema migrations are plain SQL files shipped inside the package, applied by yoyo-migrations.

Concurrent runs are serialised by a PostgreSQL session-level advisory lock instead of yoyo's
lock table: a lock row outlives a process (or VM) that dies mid-migration and blocks every later
run until someone breaks it, while an advisory lock ends with its session.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from importlib import resources
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from yoyo import read_migrations
from yoyo.backends.core.postgresql import PostgresqlPsycopgBackend
from yoyo.connections import parse_uri

log = logging.getLogger(__name__)

MIGRATION_TABLE = "_yoyo_migration"
# pg_advisory_lock key of schema migrations (any constant; ASCII "pianomig").
MIGRATION_LOCK_KEY = 0x7069616E6F6D6967
LOCK_WAIT_SECONDS = 600.0


class NoMigrationsFound(RuntimeError):
    """An install without its SQL files must not report "nothing to apply" and start serving."""


class MigrationLockTimeout(RuntimeError):
    """Another migration held the lock for longer than we wait."""


class AdvisoryLockBackend(PostgresqlPsycopgBackend):
    """yoyo's psycopg 3 backend, locking with pg_advisory_lock on its own session."""

    lock_wait_seconds = LOCK_WAIT_SECONDS
    _is_locked: bool = False

    @contextmanager
    def lock(self, timeout: float = 0) -> Iterator[None]:
        if self._is_locked:  # yoyo takes the lock again inside a locked run
            yield
            return
        deadline = time.monotonic() + (timeout or self.lock_wait_seconds)
        while not self.execute(
            "SELECT pg_try_advisory_lock(:key)", {"key": MIGRATION_LOCK_KEY}
        ).fetchone()[0]:
            if time.monotonic() > deadline:
                raise MigrationLockTimeout(
                    "another migration holds the lock (pg_locks: locktype 'advisory'); "
                    "it is released when that session ends"
                )
            log.info("waiting for another migration to finish")
            time.sleep(1.0)
        self._is_locked = True
        try:
            yield
        finally:
            self._is_locked = False
            self.execute("SELECT pg_advisory_unlock(:key)", {"key": MIGRATION_LOCK_KEY})


def migrations_dir() -> Path:
    """service/migrations as installed (package data in the wheel, the source tree when editable)."""
    return Path(str(resources.files("service") / "migrations"))


def yoyo_url(database_url: str) -> str:
    """yoyo picks its driver from the scheme; we always use psycopg 3."""
    parts = urlsplit(database_url)
    scheme = "postgresql+psycopg"
    return urlunsplit((scheme, parts.netloc, parts.path, parts.query, parts.fragment))


def migration_backend(database_url: str) -> AdvisoryLockBackend:
    backend = AdvisoryLockBackend(parse_uri(yoyo_url(database_url)), MIGRATION_TABLE)
    backend.init_database()
    return backend


def apply_migrations(database_url: str, directory: Path | None = None) -> list[str]:
    """Apply pending migrations under the advisory lock, so concurrent runs are safe."""
    source = directory or migrations_dir()
    migrations = read_migrations(str(source))
    if len(migrations) == 0:
        raise NoMigrationsFound(f"no migrations found in {source}")
    backend = migration_backend(database_url)
    try:
        with backend.lock():
            pending = backend.to_apply(migrations)
            backend.apply_migrations(pending)
    finally:
        backend.connection.close()
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
