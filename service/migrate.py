"""`python -m service.migrate`: apply the packaged migrations to DATABASE_URL (production's unit).

Exit codes: 0 applied or already current (a no-op at head), 1 the migrations could not be applied
(none shipped, the database unreachable or refusing them, the lock held too long), 2 DATABASE_URL
is not set. Concurrent runs wait for each other on a PostgreSQL advisory lock, which ends with
its session, so a run killed mid-way never blocks the next one. The local stack's `make migrate` also
covers the embedded server; this entry point never starts one.
"""

from __future__ import annotations

import logging
import sys

from service.core.config import get_settings
from service.core.logs import configure_logging
from service.core.migrations import NoMigrationsFound, apply_migrations

log = logging.getLogger("service.migrate")


def main() -> int:
    settings = get_settings()
    configure_logging(settings.log.level, settings.log.format)
    if not settings.db.url:
        log.error("DATABASE_URL is not set; nothing to migrate")
        return 2
    try:
        applied = apply_migrations(settings.db.url)
    except NoMigrationsFound as exc:
        log.error("refusing to continue: %s (the package was built without them)", exc)
        return 1
    except Exception as exc:
        log.error("migration failed: %s: %s", type(exc).__name__, exc, exc_info=True)
        return 1
    log.info(
        "schema is current",
        extra={"applied": applied, "count": len(applied)},
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
