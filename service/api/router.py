"""Every resource router, in one list so the app factory stays a few lines."""

from __future__ import annotations

from fastapi import APIRouter

from service.api.routes import (
    admin,
    api_keys,
    auth,
    chat,
    feedback,
    health,
    internal_caller,
    internal_embeddings,
    knowledge,
    practice_context,
    project_access,
    projects,
    recordings,
    relationships,
    sources,
    tutor,
    well_known,
)
from service.api.routes import annotations as annotation_routes

ROUTERS: list[APIRouter] = [
    health.router,
    well_known.router,
    auth.router,
    api_keys.router,
    relationships.router,
    projects.router,
    project_access.router,
    annotation_routes.router,
    knowledge.router,
    internal_embeddings.router,
    internal_caller.router,
    chat.router,
    sources.router,
    admin.router,
    recordings.router,
    practice_context.router,
    feedback.router,
    tutor.router,
]
