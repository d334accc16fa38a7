"""Every resource router, in one list so the app factory stays a few lines."""

from __future__ import annotations

from fastapi import APIRouter

from service.api.routes import annotations as annotation_routes
from service.api.routes import (
    auth,
    chat,
    health,
    internal_embeddings,
    knowledge,
    practice_context,
    project_access,
    projects,
    recordings,
    relationships,
    sources,
    well_known,
)

ROUTERS: list[APIRouter] = [
    health.router,
    well_known.router,
    auth.router,
    relationships.router,
    projects.router,
    project_access.router,
    annotation_routes.router,
    knowledge.router,
    internal_embeddings.router,
    chat.router,
    sources.router,
    recordings.router,
    practice_context.router,
]
