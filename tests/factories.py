"""Test data built through the public API, the way a client would."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import httpx
import psycopg

PASSWORD = "correct horse battery"


@dataclass
class Account:
    id: str
    email: str
    role: str
    access_token: str
    refresh_token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access_token}"}


def login(client: httpx.Client, email: str, password: str = PASSWORD) -> Account:
    r = client.post("/api/auth/login", json={"email": email, "password": password})
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return Account(
        id=body["user"]["id"],
        email=email,
        role=body["user"]["role"],
        access_token=body["access_token"],
        refresh_token=body["refresh_token"],
    )


class Accounts:
    """Registers users through the API; admins are promoted in SQL, exactly as `make admin` does."""

    def __init__(self, client: httpx.Client, db_url: str) -> None:
        self.client = client
        self.db_url = db_url

    def create(self, role: str, name: str | None = None) -> Account:
        email = f"{name or role}-{uuid.uuid4().hex[:8]}@example.com"
        r = self.client.post(
            "/api/auth/register",
            json={
                "email": email,
                "password": PASSWORD,
                "display_name": name or role,
                "role": "teacher" if role == "admin" else role,
            },
        )
        assert r.status_code == 201, r.text
        if role == "admin":
            with psycopg.connect(self.db_url, autocommit=True) as conn:
                conn.execute(
                    "UPDATE users SET role = 'admin' WHERE lower(email) = lower(%s)", (email,)
                )
        return login(self.client, email)

    def link(self, teacher: Account, student: Account) -> str:
        """The teacher asks, the student accepts: the link's id."""
        r = self.client.post(
            "/api/relationships/requests",
            json={"student_email": student.email},
            headers=teacher.headers,
        )
        assert r.status_code == 202, r.text
        r = self.client.post(
            f"/api/relationships/requests/{r.json()['id']}/accept", headers=student.headers
        )
        assert r.status_code == 201, r.text
        return str(r.json()["id"])
