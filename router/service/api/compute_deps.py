"""Dependencies of the compute controls: the caller's headers, read once per request."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from router.decision.controls import CallerControls, parse_controls

__all__ = ["ControlsDep"]


async def _controls(request: Request) -> CallerControls:
    """``x-router-max-cost``, ``x-router-deadline-ms``, ``x-router-quality``; a bad value is a
    400 naming the header."""
    return parse_controls(request.headers)


ControlsDep = Annotated[CallerControls, Depends(_controls)]
