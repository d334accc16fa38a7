"""Generated dashboards: committed JSON equals the generator's output, and house rules hold."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from dashboards import generate
from tests.observability.promql import GRAFANA_DIR, alert_rules, dashboard_panels, dashboards


def test_committed_json_matches_generator() -> None:
    rendered = generate.render()
    committed = {p.name: p.read_text() for p in GRAFANA_DIR.glob("*.json")}
    assert set(committed) == set(rendered), "run: python -m dashboards.generate"
    stale = [name for name, text in rendered.items() if committed[name] != text]
    assert not stale, f"stale dashboards {stale}; run: python -m dashboards.generate"


def test_check_mode_detects_a_stale_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path
    monkeypatch.setattr(generate, "OUT_DIR", out)
    assert generate.main([]) == 0
    assert generate.main(["--check"]) == 0
    victim = out / "piano-rag.json"
    victim.write_text(victim.read_text().replace("P95 by stage", "P95 per stage"))
    assert generate.main(["--check"]) == 1


PROMETHEUS_DASHBOARDS = sorted(set(generate.DASHBOARDS) - {"piano-edge"})


@pytest.mark.parametrize("name", PROMETHEUS_DASHBOARDS)
def test_dashboard_conventions(name: str) -> None:
    model = dashboards()[f"{name}.json"]
    assert model["uid"] == name
    variables = {v["name"]: v for v in model["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    panels = [p for p in dashboard_panels(model) if p["type"] != "row"]
    assert panels
    ids = [p["id"] for p in dashboard_panels(model)]
    assert len(ids) == len(set(ids)), "panel ids must be unique"
    uses_rate_interval = False
    for panel in panels:
        assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == "${datasource}"
            expr = target["expr"]
            # rate()/irate() windows follow the scrape interval, never a hard-coded range.
            for window in re.findall(r"\b(?:i?rate)\([^\[]*\[([^\]]+)\]", expr):
                assert window == "$__rate_interval", f"{panel['title']}: {expr}"
            uses_rate_interval |= "$__rate_interval" in expr
    assert uses_rate_interval


def test_alert_dashboard_links_point_at_generated_dashboards() -> None:
    for rule in alert_rules():
        match = re.fullmatch(r"https://[^/]+/d/([\w-]+)/[\w-]+", rule["annotations"]["dashboard"])
        assert match, rule["alert"]
        assert match.group(1) in generate.DASHBOARDS, rule["alert"]
