"""Seeded load-test accounts: written by `python -m loadtest.setup`, handed out without reuse."""

from __future__ import annotations

import json
import threading
from dataclasses import asdict, dataclass
from pathlib import Path

PASSWORD = "loadtest-practice-daily"  # noqa: S105 - a seeded test account, never a real secret
EMAIL_DOMAIN = "example.com"


@dataclass(frozen=True)
class SeededAccount:
    email: str
    role: str
    password: str = PASSWORD
    teacher_email: str | None = None
    project_id: str | None = None


def email_for(role: str, index: int) -> str:
    return f"lt-{role}-{index:04d}@{EMAIL_DOMAIN}"


def write_accounts(path: Path, accounts: list[SeededAccount]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps([asdict(a) for a in accounts], indent=1), encoding="utf-8")


def read_accounts(path: Path) -> list[SeededAccount]:
    return [SeededAccount(**row) for row in json.loads(path.read_text(encoding="utf-8"))]


class AccountsExhausted(RuntimeError):
    """More virtual users of a role than seeded accounts: re-run setup with more users."""


class AccountPool:
    """Each virtual user takes its own account, so per-user caches and rate limits see real users."""

    def __init__(self, accounts: list[SeededAccount]):
        self._by_role: dict[str, list[SeededAccount]] = {}
        for account in accounts:
            self._by_role.setdefault(account.role, []).append(account)
        self._next: dict[str, int] = {}
        self._lock = threading.Lock()

    def take(self, role: str) -> SeededAccount:
        with self._lock:
            accounts = self._by_role.get(role, [])
            index = self._next.get(role, 0)
            if index >= len(accounts):
                raise AccountsExhausted(
                    f"all {len(accounts)} seeded {role} accounts are in use; "
                    "run `python -m loadtest.setup` with more users"
                )
            self._next[role] = index + 1
            return accounts[index]

    def available(self, role: str) -> int:
        return len(self._by_role.get(role, [])) - self._next.get(role, 0)
