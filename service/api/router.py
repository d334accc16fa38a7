"""Every resource router, in one list so the app factory stays a few lines."""

from __future__ import annotations

from fastapi import APIRouter

from service.api.routes import auth, chat, health, relationships, well_known

ROUTERS: list[APIRouter] = [
    health.router,
    well_known.router,
    auth.router,
    relationships.router,
    chat.router,
]
