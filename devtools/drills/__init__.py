"""Executable drills (`make drill-<name>`); each writes a JSON report under .local/drills/.

Every drill takes `--database-url` (default DATABASE_URL; empty means a scratch database on the
embedded server under EMBEDDED_DIR) and `--report`, and exits 0 only when it passed.
"""

from __future__ import annotations

import argparse
import json
import os
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from devtools import REPO_ROOT

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

    class DrillReport(DataclassInstance, Protocol):
        ok: bool


REPORTS_DIR = REPO_ROOT / ".local" / "drills"
EMBEDDED_DIR = REPORTS_DIR / "pg"


def parse_args(doc: str | None, report_name: str, argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=doc.splitlines()[0] if doc else None)
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL", ""))
    parser.add_argument("--report", type=Path, default=REPORTS_DIR / report_name)
    return parser.parse_args(argv)


def publish(report: DrillReport, path: Path) -> int:
    """Writes the report to `path`, prints it, and turns `report.ok` into the exit code."""
    text = json.dumps(asdict(report), indent=2)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text + "\n")
    print(text)
    return 0 if report.ok else 1
