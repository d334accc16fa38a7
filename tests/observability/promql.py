"""Collect the PromQL expressions the repo ships and the metric names they read.

No PromQL parser exists on PyPI for Python 3.11 that we could pin, so names are found by
stripping everything that is not a selector (strings, label matchers, grouping clauses, ranges,
functions, keywords). Our expressions are plain enough for that; the tests below check it on
known cases so a miss shows up.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
RULES_DIR = REPO_ROOT / "dashboards" / "prometheus" / "rules"
GRAFANA_DIR = REPO_ROOT / "dashboards" / "grafana"
SOURCES_FILE = REPO_ROOT / "dashboards" / "metric_sources.yaml"

KEYWORDS = {
    "and", "or", "unless", "by", "without", "on", "ignoring", "group_left", "group_right",
    "bool", "offset", "inf", "nan", "atan2",
}  # fmt: skip

_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'')
_MATCHERS = re.compile(r"\{[^{}]*\}")
_GROUPING = re.compile(
    r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)", re.IGNORECASE
)
_RANGE = re.compile(r"\[[^\[\]]*\]")
_VARIABLE = re.compile(r"\$\{?\w+\}?")
_IDENT = re.compile(r"(?<![\w:.])([A-Za-z_:][A-Za-z0-9_:]*)(?![\w:])(\s*\()?")


def metric_names(expr: str) -> set[str]:
    """Metric names selected by ``expr`` (functions, keywords, labels and literals excluded)."""
    text = _VARIABLE.sub(" ", expr)
    text = _STRING.sub(" ", text)
    text = _MATCHERS.sub(" ", text)
    text = _GROUPING.sub(" ", text)
    text = _RANGE.sub(" ", text)
    names = set()
    for match in _IDENT.finditer(text):
        name, call = match.group(1), match.group(2)
        if call or name.lower() in KEYWORDS:
            continue
        names.add(name)
    return names


def rule_groups() -> list[dict]:
    groups: list[dict] = []
    for path in sorted(RULES_DIR.glob("*.yml")):
        groups.extend(yaml.safe_load(path.read_text())["groups"])
    return groups


def alert_rules() -> list[dict]:
    return [r for g in rule_groups() for r in g["rules"] if "alert" in r]


def recording_rules() -> list[dict]:
    return [r for g in rule_groups() for r in g["rules"] if "record" in r]


def dashboards() -> dict[str, dict]:
    return {p.name: json.loads(p.read_text()) for p in sorted(GRAFANA_DIR.glob("*.json"))}


def dashboard_panels(model: dict) -> list[dict]:
    panels = []
    for panel in model.get("panels", []):
        panels.append(panel)
        panels.extend(panel.get("panels", []))
    return panels


def shipped_expressions() -> dict[str, str]:
    """Where -> PromQL for every rule and every dashboard query."""
    exprs: dict[str, str] = {}
    for rule in rule_groups_flat():
        kind = "alert" if "alert" in rule else "record"
        exprs[f"rule {kind} {rule[kind]}"] = rule["expr"]
    for name, model in dashboards().items():
        for panel in dashboard_panels(model):
            for target in panel.get("targets", []):
                if "expr" in target:  # PromQL; the edge dashboard's SQL targets have "query"
                    exprs[f"{name} / {panel['title']} / {target['refId']}"] = target["expr"]
    return exprs


def rule_groups_flat() -> list[dict]:
    return [r for g in rule_groups() for r in g["rules"]]


def metric_sources() -> dict[str, set[str]]:
    """Exporter -> metric names, for the metrics that do not come from the service."""
    data = yaml.safe_load(SOURCES_FILE.read_text())
    return {source: set(names) for source, names in data.items()}
