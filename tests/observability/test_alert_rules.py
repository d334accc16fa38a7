"""Prometheus rules: promtool validates and unit-tests them; every alert follows the house rules."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.observability.promql import REPO_ROOT, RULES_DIR, alert_rules

PROM_DIR = REPO_ROOT / "dashboards" / "prometheus"
TESTS_DIR = PROM_DIR / "tests"
SEVERITIES = {"critical", "warning", "info"}
RUNBOOK_URL = re.compile(
    r"https://github\.com/piano-platform/platform/blob/main/runbooks/(?P<name>\w+)\.md"
)


def _promtool() -> str:
    path = shutil.which("promtool")
    if not path:
        pytest.fail("promtool not found: `make test-monitoring` installs Debian's prometheus")
    return path


def _run(*args: str, cwd: Path = PROM_DIR) -> subprocess.CompletedProcess[str]:
    return subprocess.run([_promtool(), *args], cwd=cwd, capture_output=True, text=True)


def test_promtool_check_rules_is_clean() -> None:
    result = _run("check", "rules", *sorted(str(p) for p in RULES_DIR.glob("*.yml")))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "WARNING" not in (result.stdout + result.stderr).upper()


def test_promtool_check_config() -> None:
    result = _run("check", "config", "--syntax-only", "prometheus.yml")
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_unit_tests_pass() -> None:
    files = sorted(str(p.relative_to(PROM_DIR)) for p in TESTS_DIR.glob("*.yml"))
    assert files
    result = _run("test", "rules", *files)
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_tests_catch_a_changed_threshold(tmp_path: Path) -> None:
    """The unit tests pin thresholds: loosening one (1 % -> 5 % errors) must fail them."""
    shutil.copytree(PROM_DIR, tmp_path / "prometheus")
    alerts = tmp_path / "prometheus" / "rules" / "alerts.rules.yml"
    text = alerts.read_text()
    assert "job:http_requests:5xx_ratio_5m > 0.01" in text
    alerts.write_text(text.replace("5xx_ratio_5m > 0.01", "5xx_ratio_5m > 0.05"))
    result = _run("test", "rules", "tests/api.test.yml", cwd=tmp_path / "prometheus")
    assert result.returncode != 0
    assert "ApiHighErrorRate" in result.stdout + result.stderr


@pytest.mark.parametrize("rule", alert_rules(), ids=lambda r: r["alert"])
def test_alert_labels_and_annotations(rule: dict) -> None:
    assert rule["labels"]["severity"] in SEVERITIES
    annotations = rule["annotations"]
    assert set(annotations) >= {"summary", "description", "runbook_url", "dashboard"}
    match = RUNBOOK_URL.fullmatch(annotations["runbook_url"])
    assert match and match.group("name") == rule["alert"]
    assert "for" in rule, "every alert waits before firing"


def _alert_tests() -> dict[str, list[dict]]:
    """Alert name -> every alert_rule_test case for it across the promtool test files."""
    cases: dict[str, list[dict]] = {}
    for path in TESTS_DIR.glob("*.yml"):
        for group in yaml.safe_load(path.read_text())["tests"]:
            for case in group.get("alert_rule_test", []):
                cases.setdefault(case["alertname"], []).append(case)
    return cases


def _duration(text: str) -> int:
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    return sum(int(n) * units[u] for n, u in re.findall(r"(\d+)([smhd])", text))


@pytest.mark.parametrize("rule", alert_rules(), ids=lambda r: r["alert"])
def test_every_alert_has_the_three_promtool_cases(rule: dict) -> None:
    """Quiet below the threshold, quiet just before ``for:``, firing with exact annotations."""
    cases = _alert_tests().get(rule["alert"], [])
    firing = [c for c in cases if c.get("exp_alerts")]
    quiet = [c for c in cases if not c.get("exp_alerts")]
    assert firing, f"{rule['alert']}: no test where it fires"
    for case in firing:
        for alert in case["exp_alerts"]:
            assert alert["exp_labels"]["severity"] == rule["labels"]["severity"]
            assert set(alert["exp_annotations"]) == set(rule["annotations"])
    fire_times = {_duration(c["eval_time"]) for c in firing}
    just_before = {_duration(c["eval_time"]) for c in quiet} & {t - 60 for t in fire_times}
    assert just_before, f"{rule['alert']}: no quiet case one evaluation before it fires"
    assert len(quiet) >= 2, f"{rule['alert']}: no below-threshold case"
