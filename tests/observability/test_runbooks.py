"""Runbook lint: every alert links to a runbook that exists, has its sections and valid bash."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from tests.observability.promql import REPO_ROOT, alert_rules

RUNBOOKS = REPO_ROOT / "runbooks"
PROCEDURES = RUNBOOKS / "procedures"
ALERT_SECTIONS = ["Meaning", "Impact", "Diagnosis", "Mitigation", "Escalation", "Verification"]
PROCEDURE_SECTIONS = ["Purpose", "Prerequisites", "Steps", "Verification", "Rollback", "Escalation"]
RUNBOOK_URL = re.compile(r"^https://github\.com/piano-platform/platform/blob/main/(runbooks/.+)$")
FENCE = re.compile(
    r"^(?P<indent>[ \t]*)```(?P<lang>[\w-]*)[ \t]*\n(?P<body>.*?)^(?P=indent)```", re.M | re.S
)
LINK = re.compile(r"\]\((?!https?://|#)([^)#\s]+)(?:#[^)]*)?\)")


def sections(text: str) -> list[str]:
    return re.findall(r"^## (.+?)\s*$", text, re.M)


def bash_blocks(text: str) -> list[str]:
    """Bodies of ```bash fences, with the list-item indentation removed."""
    blocks = []
    for m in FENCE.finditer(text):
        if m.group("lang") not in ("bash", "sh", "shell"):
            continue
        indent = len(m.group("indent"))
        blocks.append("".join(line[indent:] for line in m.group("body").splitlines(True)))
    return blocks


def bash_syntax_errors(text: str) -> list[str]:
    errors = []
    for block in bash_blocks(text):
        result = subprocess.run(["bash", "-n"], input=block, capture_output=True, text=True)
        if result.returncode != 0:
            errors.append(f"{result.stderr.strip()}\n---\n{block}")
    return errors


def _all_runbooks() -> list[Path]:
    return sorted(RUNBOOKS.rglob("*.md"))


@pytest.mark.parametrize("rule", alert_rules(), ids=lambda r: r["alert"])
def test_runbook_url_resolves_to_a_file(rule: dict) -> None:
    match = RUNBOOK_URL.match(rule["annotations"]["runbook_url"])
    assert match, rule["annotations"]["runbook_url"]
    path = REPO_ROOT / match.group(1)
    assert path == RUNBOOKS / f"{rule['alert']}.md"
    assert path.is_file(), f"missing {path.relative_to(REPO_ROOT)}"


def test_every_alert_runbook_belongs_to_an_alert() -> None:
    alerts = {r["alert"] for r in alert_rules()}
    files = {p.stem for p in RUNBOOKS.glob("*.md")} - {"README"}
    assert files == alerts, f"orphans {files - alerts}, missing {alerts - files}"


@pytest.mark.parametrize("name", sorted(r["alert"] for r in alert_rules()))
def test_alert_runbook_has_its_sections(name: str) -> None:
    text = (RUNBOOKS / f"{name}.md").read_text()
    assert text.splitlines()[0] == f"# {name}"
    assert sections(text) == ALERT_SECTIONS


@pytest.mark.parametrize("path", sorted(PROCEDURES.glob("*.md")), ids=lambda p: p.stem)
def test_procedure_has_its_sections(path: Path) -> None:
    found = sections(path.read_text())
    assert found[: len(PROCEDURE_SECTIONS)] == PROCEDURE_SECTIONS, found


def test_required_procedures_exist() -> None:
    names = {p.stem for p in PROCEDURES.glob("*.md")}
    assert names >= {
        "health-check",
        "rolling-restart-and-rollback",
        "database-backup-and-restore",
        "disaster-recovery-drill",
        "instance-failover-test",
        "cache-purge",
        "reembed",
        "secret-rotation",
        "drills",
    }


@pytest.mark.parametrize("path", _all_runbooks(), ids=lambda p: str(p.relative_to(RUNBOOKS)))
def test_bash_blocks_parse(path: Path) -> None:
    text = path.read_text()
    assert bash_syntax_errors(text) == []


@pytest.mark.parametrize("path", _all_runbooks(), ids=lambda p: str(p.relative_to(RUNBOOKS)))
def test_relative_links_resolve(path: Path) -> None:
    for target in LINK.findall(path.read_text()):
        assert (path.parent / target).exists(), f"{path.name}: broken link {target}"


def test_every_runbook_has_a_command() -> None:
    """Runbooks are meant to be run: each alert runbook's Diagnosis has at least one bash block."""
    for rule in alert_rules():
        text = (RUNBOOKS / f"{rule['alert']}.md").read_text()
        diagnosis = text.split("## Diagnosis", 1)[1].split("## Mitigation", 1)[0]
        assert bash_blocks(diagnosis), rule["alert"]


def test_lint_catches_broken_bash_and_indented_blocks() -> None:
    text = (
        "1. step\n\n   ```bash\n   echo ok\n   ```\n\n"
        "```bash\nif true; then echo missing fi\n```\n\n```text\nif (\n```\n"
    )
    assert bash_blocks(text) == ["echo ok\n", "if true; then echo missing fi\n"]
    errors = bash_syntax_errors(text)
    assert len(errors) == 1 and "missing fi" in errors[0]
