"""Supabase's Data API roles see nothing; the API's role (the tables' owner) sees everything.

Supabase serves every table in `public` through PostgREST to `anon` (anyone with the project's
anon key) and `authenticated` (any signed-in Supabase user), and grants both ALL on those tables.
The roles are created here as Supabase has them, with the same grants, so what they can read is
decided by row level security alone.
"""

from __future__ import annotations

import httpx
import psycopg
import pytest
from psycopg import sql

from devtools.postgres import create_scratch_database
from tests.factories import Accounts

DATA_API_ROLES = ("anon", "authenticated")

# What Supabase runs for its API roles (supabase/postgres: roles and default privileges).
SUPABASE_ROLES_SQL = """
DO $$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'anon') THEN
    CREATE ROLE anon NOLOGIN NOINHERIT;
  END IF;
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'authenticated') THEN
    CREATE ROLE authenticated NOLOGIN NOINHERIT;
  END IF;
END $$;
GRANT USAGE ON SCHEMA public TO anon, authenticated;
GRANT ALL ON ALL TABLES IN SCHEMA public TO anon, authenticated;
GRANT ALL ON ALL SEQUENCES IN SCHEMA public TO anon, authenticated;
GRANT ALL ON ALL ROUTINES IN SCHEMA public TO anon, authenticated;
"""

TABLES_SQL = """
SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p')
ORDER BY c.relname
"""


def _tables(url: str) -> list[tuple[str, bool, bool]]:
    with psycopg.connect(url) as conn:
        return [(r[0], r[1], r[2]) for r in conn.execute(TABLES_SQL).fetchall()]


def test_every_table_in_public_has_row_level_security(db_url: str) -> None:
    """Also the rule for every future table: its own migration enables RLS."""
    tables = _tables(db_url)
    assert len(tables) > 10
    missing = [name for name, rls, _ in tables if not rls]
    assert missing == [], f"tables without ENABLE ROW LEVEL SECURITY: {missing}"
    # FORCE would lock the API (the owner) out of its own tables.
    assert [name for name, _, forced in tables if forced] == []
    with psycopg.connect(db_url) as conn:
        policies = conn.execute(
            "SELECT tablename, policyname FROM pg_policies WHERE schemaname = 'public'"
        ).fetchall()
        # Views run as their owner (bypassing RLS) unless security_invoker is set.
        open_views = conn.execute(
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = 'public' AND c.relkind IN ('v', 'm') "
            "AND NOT coalesce('security_invoker=true' = ANY (c.reloptions), false)"
        ).fetchall()
    assert policies == [], "a policy would open a table to the Data API roles"
    assert open_views == []


@pytest.fixture
def data_api_db(client: httpx.Client, accounts: Accounts, clean_db: str) -> str:
    """The test database with Supabase's API roles and some rows written through the API."""
    teacher = accounts.create("teacher")
    student = accounts.create("student")
    accounts.link(teacher, student)
    r = client.post(
        "/api/projects",
        json={"title": "Scales", "filename": "scales.pdf", "file_size": 1000},
        headers=teacher.headers,
    )
    assert r.status_code == 201, r.text
    with psycopg.connect(clean_db, autocommit=True) as conn:
        conn.execute(SUPABASE_ROLES_SQL)
    return clean_db


@pytest.mark.parametrize("role", DATA_API_ROLES)
def test_data_api_roles_read_and_change_nothing_while_the_owner_reads_everything(
    data_api_db: str, role: str
) -> None:
    tables = [name for name, _, _ in _tables(data_api_db)]
    with psycopg.connect(data_api_db, autocommit=True) as conn:
        owner_counts = {
            t: conn.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(t))).fetchone()
            for t in tables
        }
        populated = [t for t, count in owner_counts.items() if count and count[0] > 0]
        # The API's own rows (users, tokens, links, projects, migrations) are there for the owner.
        assert {"users", "refresh_tokens", "projects", "_yoyo_migration"} <= set(populated)
        conn.execute(sql.SQL("SET ROLE {}").format(sql.Identifier(role)))
        seen = {
            t: conn.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(t))).fetchone()
            for t in tables
        }
        assert {t: c for t, c in seen.items() if c != (0,)} == {}
        # Writes are refused too: no policy admits a new row, and nothing is visible to change.
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="row-level security"):
            conn.execute(
                "INSERT INTO users (email, password_hash, display_name, role) "
                "VALUES ('intruder@example.com', 'x', 'I', 'admin')"
            )
        assert conn.execute("UPDATE users SET role = 'admin'").rowcount == 0
        assert conn.execute("DELETE FROM refresh_tokens").rowcount == 0
        conn.execute("RESET ROLE")
        assert conn.execute("SELECT count(*) FROM users").fetchone() == owner_counts["users"]


def test_a_table_without_rls_is_caught(pg_server_url: str) -> None:
    """The check above fails for a table a migration forgot to secure."""
    url = create_scratch_database(pg_server_url, "rls_forgotten")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE TABLE forgotten (id int)")
    assert ("forgotten", False, False) in _tables(url)
