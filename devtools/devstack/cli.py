"""`python -m devtools.devstack {up,migrate,reset,admin}`: what the Makefile targets run."""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from psycopg.types.json import Jsonb

from devtools import local_s3
from devtools.devstack import ingest
from devtools.devstack.demo_users import DEMO_PASSWORD, DEMO_USERS, ensure_demo_users
from devtools.devstack.edge import origin_secret, start_edge
from devtools.devstack.processes import Supervisor, http_ok, install_sigterm_as_interrupt, python
from devtools.postgres import DataDirTooOld, start_embedded
from service.auth.keys import load_key_ring
from service.core.config import Settings
from service.core.migrations import apply_migrations


def step(message: str) -> None:
    print(f"==> {message}", flush=True)


@contextmanager
def database(settings: Settings) -> Iterator[str]:
    """The configured DATABASE_URL, or the embedded server (stopped when the block exits)."""
    if settings.db.url:
        yield settings.db.url
        return
    step(f"starting embedded PostgreSQL (data in {settings.local_dir / 'pgdata'})")
    started = time.perf_counter()
    url = start_embedded(settings.local_dir / "pgdata")
    step(f"PostgreSQL ready in {time.perf_counter() - started:.1f}s")
    yield url


def migrate(settings: Settings, url: str) -> None:
    step("applying migrations")
    applied = apply_migrations(url)
    step(f"migrations: {len(applied)} applied" + (f" ({', '.join(applied)})" if applied else ""))


def start_object_store(sup: Supervisor, settings: Settings, env: dict[str, str]) -> None:
    """Local S3 server when S3_ENDPOINT_URL is on loopback; data replayed from .local/s3/."""
    address = local_s3.loopback_address(settings.storage.endpoint_url)
    if address is None:
        step(f"using object storage at {settings.storage.endpoint_url}")
        return
    data_dir = settings.local_dir / "s3"
    step(f"starting S3 server on {address[0]}:{address[1]} (data in {data_dir})")
    child = sup.start(
        "s3",
        local_s3.server_command(*address),
        {**env, **local_s3.recording_env(data_dir)},
    )
    endpoint = settings.storage.endpoint_url.rstrip("/")

    def restore() -> None:  # moto keeps objects in memory: replay them into a new server too
        sup.wait_ready(child, lambda: local_s3.is_up(endpoint), 60, endpoint)
        replayed = local_s3.replay(endpoint, data_dir)
        if replayed:
            step(f"S3 state restored ({replayed} recorded requests replayed)")

    restore()
    child.after_restart = restore


def cmd_migrate(settings: Settings) -> int:
    with database(settings) as url:
        migrate(settings, url)
    return 0


def cmd_admin(settings: Settings, email: str) -> int:
    with database(settings) as url:
        migrate(settings, url)
        with psycopg.connect(url) as conn, conn.transaction():
            row = conn.execute(
                "UPDATE users u SET role = 'admin', updated_at = now() "
                "FROM (SELECT id, role FROM users WHERE lower(email) = lower(%s)) old "
                "WHERE u.id = old.id RETURNING u.id, old.role",
                (email,),
            ).fetchone()
            if row is not None and row[1] != "admin":  # the audit log records role changes
                conn.execute(
                    "INSERT INTO audit_log (action, target_type, target_id, details) "
                    "VALUES ('user.role_change', 'user', %s, %s)",
                    (str(row[0]), Jsonb({"from": row[1], "to": "admin", "by": "make admin"})),
                )
    if row is None:
        print(f"no user with email {email}", file=sys.stderr)
        return 1
    step(f"{email} is now an admin (user id {row[0]})")
    return 0


def cmd_reset(settings: Settings) -> int:
    target = settings.local_dir
    if target.exists():
        shutil.rmtree(target)
        step(f"removed {target}")
    else:
        step(f"nothing to remove at {target}")
    return 0


def _banner(settings: Settings) -> str:
    api = f"http://{settings.local.api_host}:{settings.local.api_port}"
    edge = f"http://{settings.local.api_host}:{settings.local.edge_port}"
    secret_file = settings.local_dir / "origin-secret"
    edge_line = (
        f"    Edge       {edge}  (the Worker in workerd, in front of the API: use this one)\n"
        if settings.local.edge_enabled
        else ""
    )
    base = edge if settings.local.edge_enabled else api
    users = "\n".join(f"      {role:<8} {email}" for email, _, role in DEMO_USERS)
    return f"""
  Piano platform is up.
{edge_line}    API        {api}  (origin lock on: direct calls need -H "X-Origin-Secret: $(cat {secret_file})")
    API docs   {edge if settings.local.edge_enabled else api}/docs
    S3         {settings.storage.endpoint_url} (buckets {settings.storage.bucket_projects}, {settings.storage.bucket_knowledge})
    Health     {api}/api/live  {api}/api/ready

  Demo accounts (password: {DEMO_PASSWORD}):
{users}

  Log in:
    curl -s -X POST {base}/api/auth/login -H 'Content-Type: application/json' \\
         -d '{{"email":"teacher@example.com","password":"{DEMO_PASSWORD}"}}'

  Ctrl-C stops everything. Data is kept in {settings.local_dir} (make reset wipes it).
"""


def cmd_up(settings: Settings) -> int:
    install_sigterm_as_interrupt()
    sup = Supervisor()
    try:
        with database(settings) as url:
            migrate(settings, url)
            load_key_ring(settings)  # create the signing key once, before any API process starts
            if settings.environment == "local":
                ensure_demo_users(url)
            secret = origin_secret(settings)
            # API and ingestion worker share prometheus-client's multiprocess directory, so the
            # API's /api/metrics includes the worker's counters (as on production instances).
            metrics_dir = settings.local_dir / "metrics"
            shutil.rmtree(metrics_dir, ignore_errors=True)
            metrics_dir.mkdir(parents=True)
            env = {
                **os.environ,
                "DATABASE_URL": url,
                "LOCAL_DIR": str(settings.local_dir),
                "ORIGIN_SHARED_SECRET": secret,
                # As in production: only the edge (or a caller with the secret) reaches the API.
                "ORIGIN_ENFORCE": "true",
                "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
            }
            start_object_store(sup, settings, env)
            step(f"starting API on {settings.local.api_host}:{settings.local.api_port}")
            api = sup.start(
                "api",
                [
                    python(),
                    "-m",
                    "uvicorn",
                    "service.main:app",
                    "--host",
                    settings.local.api_host,
                    "--port",
                    str(settings.local.api_port),
                    "--no-access-log",
                    # The edge's X-Forwarded-For is read by service/core/client_ip.py, and only
                    # with the origin secret; uvicorn must not believe any loopback client's.
                    "--no-proxy-headers",
                    "--workers",
                    str(settings.local.api_workers),
                ],
                env,
            )
            ready = f"http://{settings.local.api_host}:{settings.local.api_port}/api/ready"
            sup.wait_ready(api, http_ok(ready, ok_below=300), 60, ready)
            if settings.local.edge_enabled:
                step(
                    f"starting edge Worker (workerd) on {settings.local.api_host}:{settings.local.edge_port}"
                )
                edge = start_edge(sup, settings, env, secret)
                if edge is not None:
                    edge_health = (
                        f"http://{settings.local.api_host}:{settings.local.edge_port}/health"
                    )
                    sup.wait_ready(edge, http_ok(edge_health), 90, edge_health)
            ingest.start_worker(sup, env)
            if (
                settings.environment == "local"
                and settings.local.seed_demo_data
                and ingest.seed(settings, url)
            ):
                ingest.report_progress_in_background(url)
            print(_banner(settings), flush=True)
            return sup.watch()
    except KeyboardInterrupt:
        step("stopping")
        return 0
    finally:
        sup.stop_all()
        step("stopped")


def cmd_seed(settings: Settings) -> int:
    """Loads the demo books and processes them (a worker runs until they are done)."""
    install_sigterm_as_interrupt()
    sup = Supervisor()
    try:
        with database(settings) as url:
            migrate(settings, url)
            env = {**os.environ, "DATABASE_URL": url, "LOCAL_DIR": str(settings.local_dir)}
            start_object_store(sup, settings, env)
            return ingest.seed_and_wait(settings, url, env)
    except KeyboardInterrupt:
        return 130
    finally:
        sup.stop_all()


def cmd_worker(settings: Settings) -> int:
    """`make worker` locally: one worker against DATABASE_URL or the embedded server."""
    from service.worker import main as worker_main

    if settings.db.url:
        return worker_main()
    with database(settings) as url:
        os.environ["DATABASE_URL"] = url
        from service.core.config import get_settings

        get_settings.cache_clear()
        return worker_main()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devtools.devstack")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("up", help="run the local stack in the foreground")
    sub.add_parser("migrate", help="apply migrations")
    sub.add_parser("reset", help="wipe local data")
    sub.add_parser("seed", help="load and process the demo books")
    sub.add_parser("worker", help="run one ingestion worker")
    admin = sub.add_parser("admin", help="promote a user to admin")
    admin.add_argument("email")
    args = parser.parse_args(argv)
    settings = Settings()
    try:
        return _run(args, settings)
    except DataDirTooOld as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        return 1


def _run(args: argparse.Namespace, settings: Settings) -> int:
    if args.command == "up":
        return cmd_up(settings)
    if args.command == "migrate":
        return cmd_migrate(settings)
    if args.command == "reset":
        return cmd_reset(settings)
    if args.command == "seed":
        return cmd_seed(settings)
    if args.command == "worker":
        return cmd_worker(settings)
    return cmd_admin(settings, args.email)
