"""`python -m loadtest.setup`: the test data a run needs, created through the API (and the corpus
straight into the database, local stacks only).

- N students + M teachers registered and logged in once (idempotent: existing accounts are reused),
  each teacher linked to its share of students;
- one project per account with a real one-page PDF (from the 1913 Cooke scans) uploaded through
  its presigned URL, when the target serves /api/projects;
- a >= 10k-chunk corpus (see loadtest.corpus) when a database URL is known.
"""

from __future__ import annotations

import argparse
import io
import os
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import psycopg

from devtools.devstack.edge import origin_headers
from loadtest.accounts import PASSWORD, SeededAccount, email_for, write_accounts
from loadtest.api_shapes import Capabilities, project_create_body, upload_target
from loadtest.queries import corpus_dir

SCAN_PDF = "cooke-1913-scans-pdf/cooke_1913_pp003-040_scans_textlayer.pdf"


class SetupError(RuntimeError):
    pass


def one_page_pdf(corpus: Path, out: Path, page: int = 4) -> Path:
    """A small real PDF: one scanned page with its text layer."""
    from pypdf import PdfReader, PdfWriter

    if out.exists():
        return out
    writer = PdfWriter()
    writer.add_page(PdfReader(corpus / SCAN_PDF).pages[page])
    buf = io.BytesIO()
    writer.write(buf)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(buf.getvalue())
    return out


def _check(resp: httpx.Response, what: str, ok: tuple[int, ...] = (200, 201, 204)) -> Any:
    if resp.status_code not in ok:
        raise SetupError(f"{what}: HTTP {resp.status_code} {resp.text[:300]}")
    return resp.json() if resp.content else {}


def _register_and_login(client: httpx.Client, email: str, role: str) -> str:
    body = {"email": email, "password": PASSWORD, "display_name": email.split("@")[0], "role": role}
    _check(client.post("/api/auth/register", json=body), f"register {email}", (201, 409))
    login = client.post("/api/auth/login", json={"email": email, "password": PASSWORD})
    token: str = _check(login, f"login {email}")["access_token"]
    return token


def _ensure_project(client: httpx.Client, token: str, pdf: Path, caps: Capabilities) -> str:
    headers = {"Authorization": f"Bearer {token}"}
    listed = _check(client.get("/api/projects?page_size=1", headers=headers), "list projects")
    if listed.get("items"):
        return str(listed["items"][0]["id"])
    data = pdf.read_bytes()
    created = _check(
        client.post("/api/projects", json=project_create_body(data), headers=headers),
        "create project",
    )
    project_id, url, put_headers = upload_target(created)
    if url:
        resp = httpx.put(url, content=data, headers=put_headers, timeout=30)
        if resp.status_code != 200:
            raise SetupError(f"PUT presigned URL: HTTP {resp.status_code} {resp.text[:200]}")
        if caps.project_confirm:
            _check(
                client.post(f"/api/projects/{project_id}/confirm", headers=headers),
                "confirm upload",
            )
    return project_id


def seed_accounts(
    host: str, students: int, teachers: int, pdf: Path, workers: int = 4
) -> list[SeededAccount]:
    with httpx.Client(base_url=host, timeout=60, headers=origin_headers(host)) as probe:
        paths = probe.get("/openapi.json").json().get("paths", {})
    caps = Capabilities.from_openapi(paths)
    plan = [("teacher", i) for i in range(teachers)] + [("student", i) for i in range(students)]

    def make(item: tuple[str, int]) -> tuple[SeededAccount, str]:
        role, index = item
        email = email_for(role, index)
        with httpx.Client(base_url=host, timeout=60, headers=origin_headers(host)) as client:
            token = _register_and_login(client, email, role)
            project_id = _ensure_project(client, token, pdf, caps) if caps.projects else None
        teacher = email_for("teacher", index % teachers) if role == "student" and teachers else None
        return SeededAccount(email, role, teacher_email=teacher, project_id=project_id), token

    with ThreadPoolExecutor(workers) as pool:
        made = list(pool.map(make, plan))

    tokens = {acc.email: token for acc, token in made}
    with httpx.Client(base_url=host, timeout=60, headers=origin_headers(host)) as client:
        for account, token in made:
            if account.teacher_email is None:
                continue
            _link(client, tokens[account.teacher_email], account.email, token)
    return [acc for acc, _ in made]


def _link(client: httpx.Client, teacher_token: str, student_email: str, student_token: str) -> None:
    """The teacher asks, the student accepts (links need the student's consent). Idempotent:
    asking again returns the open request, and an answered one leaves nothing to accept."""
    what = f"link -> {student_email}"
    asked = client.post(
        "/api/relationships/requests",
        json={"student_email": student_email},
        headers={"Authorization": f"Bearer {teacher_token}"},
    )
    request = _check(asked, what, (202,))
    if request.get("status") != "pending":
        return
    accepted = client.post(
        f"/api/relationships/requests/{request['id']}/accept",
        headers={"Authorization": f"Bearer {student_token}"},
    )
    _check(accepted, what, (201, 409))


def warm_up(host: str, account: SeededAccount) -> None:
    """One unmeasured question, so the API loads its embedding model before the clock starts
    (the engine is built lazily on the first query). Not from the query pools: caches stay cold."""
    with httpx.Client(base_url=host, timeout=300, headers=origin_headers(host)) as client:
        login = client.post(
            "/api/auth/login", json={"email": account.email, "password": account.password}
        )
        token = _check(login, "warm-up login")["access_token"]
        resp = client.post(
            "/api/chat/query",
            json={"query": "load test warm-up: which composer wrote this note?", "stream": False},
            headers={"Authorization": f"Bearer {token}"},
        )
        _check(resp, "warm-up query")


def empty_rag_cache(database_url: str) -> int:
    """Every run starts with cold caches: a run on the same data would otherwise find the pool's
    "unseen" questions (and the popular ones) already answered by the run before."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        return conn.execute("DELETE FROM rag_cache").rowcount


def local_database_url() -> str:
    """DATABASE_URL, or attach to the embedded server of the local stack (LOCAL_DIR)."""
    if os.environ.get("DATABASE_URL"):
        return os.environ["DATABASE_URL"]
    from devtools.postgres import start_embedded
    from service.core.config import Settings

    return start_embedded(Settings().local_dir / "pgdata")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m loadtest.setup", description=__doc__)
    parser.add_argument("--host", default=os.environ.get("HOST", "http://127.0.0.1:8080"))
    parser.add_argument("--students", type=int, default=100)
    parser.add_argument("--teachers", type=int, default=100)
    parser.add_argument("--users-file", type=Path, default=Path(".local/loadtest/users.json"))
    parser.add_argument(
        "--corpus-chunks", type=int, default=10_000, help="0 skips the corpus (remote targets)"
    )
    parser.add_argument("--cache-dir", type=Path, default=Path(".local/loadtest"))
    args = parser.parse_args(argv)

    corpus = corpus_dir()
    pdf = one_page_pdf(corpus, args.users_file.parent / "page.pdf")
    try:
        accounts = seed_accounts(args.host, args.students, args.teachers, pdf)
    except (SetupError, httpx.HTTPError) as exc:
        print(f"setup: {exc}", file=sys.stderr)
        return 1
    write_accounts(args.users_file, accounts)
    with_projects = sum(1 for a in accounts if a.project_id)
    print(
        f"==> setup: {len(accounts)} accounts ({with_projects} with a project) -> {args.users_file}",
        flush=True,
    )
    with httpx.Client(base_url=args.host, timeout=30, headers=origin_headers(args.host)) as probe:
        serves_rag = "/api/chat/query" in probe.get("/openapi.json").json().get("paths", {})
    if args.corpus_chunks > 0 and not serves_rag:
        print("==> corpus: skipped (the target serves no /api/chat/query)", flush=True)
    elif args.corpus_chunks > 0:
        from loadtest.corpus import seed_corpus

        database_url = local_database_url()
        seed_corpus(database_url, corpus, args.corpus_chunks, args.cache_dir)
        emptied = empty_rag_cache(database_url)
        print(f"==> caches: {emptied} cached entries from earlier runs dropped", flush=True)
    if serves_rag and accounts:
        try:
            warm_up(args.host, accounts[0])
        except (SetupError, httpx.HTTPError) as exc:
            print(f"setup: warm-up failed: {exc}", file=sys.stderr)
            return 1
        print("==> warm-up: the API answered a first question", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
