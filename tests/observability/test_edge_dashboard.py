"""The edge dashboard's SQL reads what the Worker writes to Workers Analytics Engine.

The Worker's own `dataPoint()` (worker/src/analytics.js, bundled with the Worker's esbuild as
the deployed script is) builds a point from distinct marker values; every field the dashboard
reads must hold that field's marker, and every query must read only the layout's columns, in
the layout version the Worker writes, over the dashboard's time range, weighted for sampling.
"""

from __future__ import annotations

import json
import re
import subprocess

import pytest

from dashboards import generate
from tests.conftest import REPO_ROOT
from tests.observability.promql import dashboard_panels, dashboards

WORKER = REPO_ROOT / "worker"
MARKERS = {
    "route": "route-marker",
    "method": "METHOD-MARKER",
    "source": "source-marker",
    "error_code": "code-marker",
    "colo": "COLO",
    "embedding_cache": "cache-marker",
    "status": 599.0,
    "duration_ms": 12.5,
}


@pytest.fixture(scope="module")
def worker_point(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """{column: value} of one data point, as the Worker's code builds it."""
    tmp = tmp_path_factory.mktemp("analytics")
    bundle = tmp / "analytics.mjs"
    script = tmp / "point.mjs"
    esbuild = (WORKER / "node_modules" / "esbuild" / "lib" / "main.js").as_uri()
    script.write_text(
        f"const {{ build }} = await import({json.dumps(esbuild)});\n"
        f"await build({{ entryPoints: [{json.dumps(str(WORKER / 'src' / 'analytics.js'))}],\n"
        f"  outfile: {json.dumps(str(bundle))}, bundle: true, format: 'esm',\n"
        "  platform: 'neutral', logLevel: 'warning' });\n"
        f"const m = await import({json.dumps(bundle.as_uri())});\n"
        f"const obs = {{ ...m.observation({json.dumps(MARKERS['route'])}),\n"
        f"  source: {json.dumps(MARKERS['source'])}, code: {json.dumps(MARKERS['error_code'])},\n"
        f"  cache: {json.dumps(MARKERS['embedding_cache'])} }};\n"
        f"const point = m.dataPoint(obs, {{ method: {json.dumps(MARKERS['method'])},\n"
        f"  status: {MARKERS['status']}, colo: {json.dumps(MARKERS['colo'])},\n"
        f"  durationMs: {MARKERS['duration_ms']} }});\n"
        "console.log(JSON.stringify({ point, version: m.LAYOUT_VERSION }));\n"
    )
    out = subprocess.run(
        ["node", str(script)], cwd=WORKER, capture_output=True, text=True, timeout=60, check=True
    ).stdout
    found = json.loads(out)
    point = found["point"]
    columns: dict[str, object] = {"_version": found["version"]}
    for kind, key in (("index", "indexes"), ("blob", "blobs"), ("double", "doubles")):
        for i, value in enumerate(point[key], start=1):
            columns[f"{kind}{i}"] = value
    return columns


def _queries() -> dict[str, str]:
    model = dashboards()["piano-edge.json"]
    return {
        f"{panel['title']} / {target['refId']}": target["query"]
        for panel in dashboard_panels(model)
        for target in panel.get("targets", [])
    }


def test_the_layout_matches_the_workers_data_points(worker_point: dict[str, object]) -> None:
    for field, column in generate.EDGE_LAYOUT.items():
        if field == "layout":
            assert worker_point[column] == generate.EDGE_LAYOUT_VERSION == worker_point["_version"]
        else:
            assert worker_point[column] == MARKERS[field], (field, column, worker_point)


def test_every_edge_panel_is_analytics_engine_sql_over_the_layout() -> None:
    model = dashboards()["piano-edge.json"]
    variables = {v["name"]: v for v in model["templating"]["list"]}
    assert variables["datasource"]["query"] == generate.AE_PLUGIN
    assert set(variables["dataset"]["query"].split(",")) == {
        f"piano_edge_{stack}" for stack in ("dev", "staging", "prod")
    }
    queries = _queries()
    assert len(queries) >= 5
    layout = set(generate.EDGE_LAYOUT.values())
    for where, sql in queries.items():
        assert "FROM $dataset" in sql and "$timeFilter" in sql and "$timeSeries" in sql, where
        assert f"{generate.EDGE_LAYOUT['layout']} = '{generate.EDGE_LAYOUT_VERSION}'" in sql, where
        assert "_sample_interval" in sql and "count(" not in sql.lower(), where
        read = set(re.findall(r"\b(?:blob|double|index)\d+\b", sql))
        assert read and read <= layout, (where, read - layout)
        assert "cloudflare_" not in sql


def test_panels_on_their_own_fields() -> None:
    """Each panel asks for what its title says (a renamed field would make it silently wrong)."""
    by_title = {k.split(" / ")[0]: v for k, v in _queries().items()}
    layout = generate.EDGE_LAYOUT
    assert f"{layout['route']} AS label" in by_title["Requests per second by route"]
    assert f"{layout['status']} >= 500" in by_title["5xx ratio by who answered (origin or edge)"]
    chat = by_title["Chat: embedding cache hit ratio"]
    assert f"{layout['embedding_cache']} = 'hit'" in chat and "'chat_query'" in chat
    assert f"({layout['duration_ms']}, _sample_interval)" in "".join(
        v for k, v in _queries().items() if k.startswith("Time to response headers")
    )


def test_a_query_reading_an_unwritten_column_is_caught() -> None:
    layout = set(generate.EDGE_LAYOUT.values())
    read = set(re.findall(r"\b(?:blob|double|index)\d+\b", "SELECT blob9 FROM $dataset"))
    assert read - layout == {"blob9"}
