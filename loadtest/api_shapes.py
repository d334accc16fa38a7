"""What the load test sends and expects from each feature's API (one place to adapt to it)."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Capabilities:
    """Which features the target serves, from its OpenAPI paths."""

    rag: bool
    projects: bool
    project_confirm: bool
    annotations: bool

    @classmethod
    def everything(cls) -> Capabilities:
        return cls(True, True, True, True)

    @classmethod
    def from_openapi(cls, paths: dict[str, Any]) -> Capabilities:
        return cls(
            rag="/api/chat/query" in paths,
            projects="/api/projects" in paths,
            project_confirm=any(p.endswith("/confirm") and "projects" in p for p in paths),
            annotations="/api/annotations" in paths,
        )

    def report(self) -> dict[str, list[str]]:
        features = {
            "rag:query (POST /api/chat/query)": self.rag,
            "api:projects:* (/api/projects)": self.projects,
            "api:annotations:* (/api/annotations)": self.annotations,
        }
        return {
            "exercised": [k for k, v in features.items() if v],
            "not_deployed": [k for k, v in features.items() if not v],
        }


def project_create_body(pdf: bytes) -> dict[str, Any]:
    return {
        "title": f"Etude {random.randint(1, 99999)}",
        "filename": "cooke-1913-page.pdf",
        "description": f"One scanned page ({len(pdf)} bytes) for load testing",
        "file_size": len(pdf),
    }


def upload_target(created: dict[str, Any]) -> tuple[str, str | None, dict[str, str]]:
    """(project id, presigned PUT URL or None, headers the PUT must carry)."""
    project = created.get("project", created)
    upload = created.get("upload") or {}
    url = upload.get("upload_url") or created.get("upload_url")
    headers = {str(k): str(v) for k, v in (upload.get("upload_headers") or {}).items()}
    return str(project["id"]), url, headers


# Coordinates are PDF points from the page's top-left (a letter page is 612 x 792).
def _rect() -> dict[str, float]:
    x, y = random.uniform(40, 450), random.uniform(40, 700)
    return {"x": round(x, 1), "y": round(y, 1), "width": 120.0, "height": 14.0}


def annotation_content(kind: str) -> dict[str, Any]:
    if kind == "highlight":
        return {"rects": [_rect(), _rect()], "color": "#ffeb3b"}
    if kind == "note":
        return {
            "text": "Watch the wrist here: loose, not stiff.",
            "position": {"x": round(random.uniform(40, 500), 1), "y": 310.0},
        }
    points = [{"x": 100.0 + i * 6, "y": 400.0 + (i % 3) * 2} for i in range(24)]
    return {"strokes": [{"points": points, "width": 2, "color": "#d32f2f"}]}


def annotation_body(project_id: str, kind: str) -> dict[str, Any]:
    # Page 1: the seeded projects are one-page PDFs.
    return {"project_id": project_id, "page": 1, "type": kind, "content": annotation_content(kind)}


def annotation_patch(kind: str) -> dict[str, Any]:
    return {"content": annotation_content(kind)}
