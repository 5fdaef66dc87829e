"""``GET /ui``: the ops web page, served by the service itself (no CDN: the assets are files in
``router/service/ui/``). The page holds no data; it calls ``/admin/...`` with the admin token
the operator types in."""

from __future__ import annotations

from pathlib import Path
from typing import Final

from fastapi import APIRouter
from starlette.exceptions import HTTPException
from starlette.responses import FileResponse

router = APIRouter(include_in_schema=False)

UI_DIR: Final = Path(__file__).resolve().parents[1] / "ui"
ASSETS: Final = {"app.js": "text/javascript", "style.css": "text/css"}
NO_STORE: Final = {"Cache-Control": "no-cache"}


@router.get("/ui")
async def page() -> FileResponse:
    return FileResponse(UI_DIR / "index.html", media_type="text/html", headers=NO_STORE)


@router.get("/ui/{name}")
async def asset(name: str) -> FileResponse:
    media_type = ASSETS.get(name)
    if media_type is None:
        raise HTTPException(404, f"no ops page asset {name!r}")
    return FileResponse(UI_DIR / name, media_type=media_type, headers=NO_STORE)
