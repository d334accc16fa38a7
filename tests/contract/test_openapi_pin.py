"""The API contract is pinned: any change to the OpenAPI document must be deliberate.

A refactor must leave `openapi.json` byte-identical. A feature that changes the API regenerates
the pin with `make openapi` and the diff shows up in review.
"""

from __future__ import annotations

import json
from pathlib import Path

from service.app import create_app
from tests.conftest import make_settings

PIN = Path(__file__).with_name("openapi.json")


def render_openapi(tmp: Path) -> str:
    # The document doesn't depend on the database: the app is built but never started.
    app = create_app(make_settings("postgresql://unused@/unused", tmp))
    return json.dumps(app.openapi(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def test_openapi_document_matches_the_pin(tmp_path: Path) -> None:
    current = render_openapi(tmp_path)
    assert PIN.exists(), "missing tests/contract/openapi.json: run `make openapi`"
    assert current == PIN.read_text(encoding="utf-8"), (
        "The OpenAPI document changed. If that is intended, run `make openapi` and commit the diff."
    )


if __name__ == "__main__":
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        PIN.write_text(render_openapi(Path(tmp)), encoding="utf-8")
    print(f"wrote {PIN}")
