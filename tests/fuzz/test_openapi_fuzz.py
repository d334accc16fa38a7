"""Property-based fuzzing of the live API from its own OpenAPI document (schemathesis).

Every operation is called as a signed-in admin (the widest reach) with generated inputs, valid
and invalid, NUL bytes, huge strings, boundary numbers and any unicode included. No response may
be a 5xx, and every response must match the schema the document declares for it.

`FUZZ_MAX_EXAMPLES` sets the examples per operation: `make test` runs a few dozen (under a
minute), `make fuzz` several hundred.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
)

from service.app import create_app
from tests.conftest import Api, ApiSettings, StartApi, make_settings
from tests.factories import Account, Accounts

MAX_EXAMPLES = int(os.environ.get("FUZZ_MAX_EXAMPLES", "20"))
CHECKS = [not_a_server_error, response_schema_conformance, content_type_conformance]


@pytest.fixture(scope="module")
def fuzzed_api(start_api: StartApi, api_settings: ApiSettings) -> Api:
    # The origin secret is set, so the edge-only routes are live (and refuse the fuzzer).
    return start_api(api_settings(origin_shared_secret="fuzz-edge-secret"))


@pytest.fixture(scope="module")
def fuzzer(fuzzed_api: Api, db_url: str) -> Account:
    with httpx.Client(base_url=fuzzed_api.url, timeout=60) as http:
        return Accounts(http, db_url).create("admin", "fuzzer")


def _document() -> dict[str, Any]:
    """The app's own OpenAPI document (it doesn't depend on the database), loaded at collection:
    the same document the live API serves at /openapi.json."""
    with tempfile.TemporaryDirectory() as tmp:
        app = create_app(make_settings("postgresql://unused@/unused", Path(tmp)))
        return app.openapi()


schema = schemathesis.openapi.from_dict(_document())
schema.config.generation.update(max_examples=MAX_EXAMPLES, allow_x00=True, codec="utf-8")


@schema.parametrize()
def test_no_server_errors_and_responses_match_the_schema(
    case: Any, fuzzed_api: Api, fuzzer: Account
) -> None:
    case.call_and_validate(
        base_url=fuzzed_api.url, headers=fuzzer.headers, checks=CHECKS, timeout=60
    )
