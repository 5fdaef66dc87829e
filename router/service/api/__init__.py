"""The HTTP endpoints, one thin module per concern; ``router`` gathers them for the app."""

from __future__ import annotations

from fastapi import APIRouter

from router.service.api import admin, chat, feedback, health, models, route, ui

__all__ = ["router"]

router = APIRouter()
for module in (chat, route, feedback, models, health, admin, ui):
    router.include_router(module.router)
