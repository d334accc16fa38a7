"""What the load test sends and expects from each feature's API (one place to adapt to it)."""

from __future__ import annotations

import hashlib
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
        "content_type": "application/pdf",
        "size_bytes": len(pdf),
        "sha256": hashlib.sha256(pdf).hexdigest(),
    }


def upload_target(created: dict[str, Any]) -> tuple[str, str | None, dict[str, str]]:
    """(project id, presigned PUT URL or None, headers the PUT must carry)."""
    project = created.get("project", created)
    upload = created.get("upload") or {}
    url = upload.get("url") or created.get("upload_url")
    headers = {str(k): str(v) for k, v in (upload.get("headers") or {}).items()}
    return str(project["id"]), url, headers


def _rect() -> dict[str, float]:
    x, y = random.uniform(0, 0.8), random.uniform(0, 0.9)
    return {"x": round(x, 4), "y": round(y, 4), "width": 0.15, "height": 0.03}


def annotation_content(kind: str) -> dict[str, Any]:
    if kind == "highlight":
        return {"rects": [_rect(), _rect()], "color": "#ffeb3b"}
    if kind == "note":
        return {"text": "Watch the wrist here: loose, not stiff.", "x": 0.42, "y": 0.31}
    points = [[round(0.1 + i * 0.01, 4), round(0.5 + (i % 3) * 0.005, 4)] for i in range(24)]
    return {"strokes": [{"points": points, "width": 2, "color": "#d32f2f"}]}


def annotation_body(project_id: str, kind: str) -> dict[str, Any]:
    return {
        "project_id": project_id,
        "page": random.randint(1, 1),
        "type": kind,
        "content": annotation_content(kind),
    }


def annotation_patch(kind: str) -> dict[str, Any]:
    return {"content": annotation_content(kind)}
