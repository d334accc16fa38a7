"""Demo accounts for the local stack, so a newcomer can log in at once. Never created outside `local`."""

from __future__ import annotations

import psycopg

from service.auth.passwords import hash_password

DEMO_PASSWORD = "practice-daily"  # noqa: S105 - documented local-only demo credential
DEMO_USERS = [
    ("admin@example.com", "Demo Admin", "admin"),
    ("teacher@example.com", "Demo Teacher", "teacher"),
    ("student@example.com", "Demo Student", "student"),
]


def ensure_demo_users(database_url: str) -> None:
    with psycopg.connect(database_url, autocommit=True) as conn:
        password_hash = hash_password(DEMO_PASSWORD)
        for email, name, role in DEMO_USERS:
            conn.execute(
                "INSERT INTO users (email, display_name, role, password_hash) VALUES (%s, %s, %s, %s) "
                "ON CONFLICT ((lower(email))) DO NOTHING",
                (email, name, role, password_hash),
            )
        conn.execute(
            """
            INSERT INTO teacher_student_links (teacher_id, student_id)
            SELECT t.id, s.id FROM users t, users s
            WHERE t.email = 'teacher@example.com' AND s.email = 'student@example.com'
            ON CONFLICT DO NOTHING
            """
        )
