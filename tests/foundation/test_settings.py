"""Settings: typed sections in code, flat variable names everywhere else."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import ValidationError

from service.core.config import Settings, all_env_names, env_names
from tests.conftest import REPO_ROOT

ENV_EXAMPLE = (REPO_ROOT / ".env.example").read_text(encoding="utf-8")
README = (REPO_ROOT / "README.md").read_text(encoding="utf-8")


@pytest.mark.parametrize("name", all_env_names())
def test_every_setting_is_documented(name: str) -> None:
    assert re.search(rf"^#?\s*{name}=", ENV_EXAMPLE, re.M), f"{name} missing from .env.example"
    assert f"`{name}`" in README, f"{name} missing from README's configuration table"


@pytest.mark.parametrize(
    ("variable", "value", "section", "field", "expected"),
    [
        ("DATABASE_URL", "postgresql://db/app", "db", "url", "postgresql://db/app"),
        ("DB_POOL_MAX_SIZE", "7", "db", "pool_max_size", 7),
        ("UPLOAD_MAX_BYTES", "1024", "storage", "upload_max_bytes", 1024),
        ("S3_REGION", "auto", "storage", "region", "auto"),
        ("WORKERS_AI_LLM_MODEL", "@cf/x", "llm", "workers_ai_model", "@cf/x"),
        ("AUTH_PROVIDER", "supabase", "auth", "provider", "supabase"),
        ("EDGE_PORT", "9999", "local", "edge_port", 9999),
    ],
)
def test_flat_variable_sets_its_section_field(
    monkeypatch: pytest.MonkeyPatch,
    variable: str,
    value: str,
    section: str,
    field: str,
    expected: object,
) -> None:
    monkeypatch.setenv(variable, value)
    assert env_names()[variable] == (section, field)
    assert getattr(getattr(Settings(), section), field) == expected


def test_precedence_keyword_then_environment_then_dotenv(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / ".env").write_text(
        "DB_POOL_MIN_SIZE=3\nDB_POOL_MAX_SIZE=30\nLOG_LEVEL=DEBUG\nENVIRONMENT=dev\n"
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DB_POOL_MAX_SIZE", "40")
    s = Settings()
    assert (s.db.pool_min_size, s.db.pool_max_size, s.log.level, s.environment) == (
        3,
        40,
        "DEBUG",
        "dev",
    )
    assert Settings.with_values(db_pool_max_size=50).db.pool_max_size == 50


def test_a_variable_named_like_a_section_is_not_a_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DB", "not json")
    monkeypatch.setenv("LOG", "{}")
    assert Settings().db.pool_max_size == 20


def test_model_copy_routes_and_validates_flat_names() -> None:
    base = Settings.with_values(database_url="postgresql://a/b")
    copy = base.model_copy(update={"upload_max_bytes": 10, "environment": "test"})
    assert (copy.storage.upload_max_bytes, copy.environment, copy.db.url) == (
        10,
        "test",
        "postgresql://a/b",
    )
    assert base.storage.upload_max_bytes == 50 * 1024 * 1024  # the original is untouched
    with pytest.raises(ValidationError):
        base.model_copy(update={"db_pool_max_size": 0})
    with pytest.raises(ValidationError):
        Settings.with_values(db={"no_such_field": 1})
