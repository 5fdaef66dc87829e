"""The one check in front of the admin API: an admin token, compared in constant time.

    @router.get("/admin/policy")
    async def policy(admin: AdminDep) -> ...:      # 401 unless the request carries the token

The token comes from ``ROUTER_ADMIN_TOKEN`` (``Settings.admin_token``) and is sent as
``Authorization: Bearer <token>``. Without a configured token the admin API is off (every call
401, saying so). The token is never logged or echoed; a refusal says only what was missing.
An API key (``router keys create --scope admin``) is taken too: a valid key with the ``admin``
scope passes (the audit names its id), one without it is a 403.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from router.access.guard import Guard
from router.access.keys import Scope, key_id_of
from router.errors import AdminAuthError
from router.service.middleware import exchange_of
from router.settings import Settings

__all__ = ["AdminDep", "AdminPrincipal", "require_admin"]

BEARER = "bearer "


@dataclass(frozen=True)
class AdminPrincipal:
    """Who passed the check: a name for the audit, and the client's address."""

    name: str
    address: str | None


async def require_admin(request: Request) -> AdminPrincipal:
    settings: Settings = request.app.state.settings
    header = request.headers.get("authorization", "")
    if key_id_of(header[len(BEARER) :].strip()) is not None:
        return await _admin_key(request, header)
    if settings.admin_token is None:
        raise AdminAuthError(
            "the admin API is off: set ROUTER_ADMIN_TOKEN, or send an API key with the"
            " 'admin' scope"
        )
    if not header.lower().startswith(BEARER):
        raise AdminAuthError("the admin API needs Authorization: Bearer <admin token>")
    sent = header[len(BEARER) :].strip().encode("utf-8")
    expected = settings.admin_token.get_secret_value().encode("utf-8")
    if not hmac.compare_digest(sent, expected):
        raise AdminAuthError("the admin token is not valid")
    actor = request.headers.get("x-router-actor", "").strip()[:100]
    name = f"admin-token ({actor})" if actor else "admin-token"
    address = request.client.host if request.client is not None else None
    return AdminPrincipal(name, address)


async def _admin_key(request: Request, header: str) -> AdminPrincipal:
    """An API key (``router.access``) with the ``admin`` scope: 401 if it is not valid, 403
    if it lacks the scope; the audit names the key's id."""
    guard: Guard = request.state.guard
    server = request.scope.get("server")
    caller = await guard.authenticate(header, server[0] if server else None)
    exchange_of(request).caller = caller
    guard.require(caller, Scope.ADMIN, "use the admin API")
    address = request.client.host if request.client is not None else None
    return AdminPrincipal(f"key {caller.id}", address)


AdminDep = Annotated[AdminPrincipal, Depends(require_admin)]
