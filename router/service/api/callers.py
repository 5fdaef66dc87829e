"""Who is calling, as typed dependencies: each endpoint names the scope it needs.

    async def route(body: RouteRequest, caller: RouteCaller, ...)     # 401 / 403 / 429 first

Each dependency authenticates the request's ``Authorization: Bearer`` key (``router.access``),
checks the scope, counts the request against the key's rate limits, and notes the caller on the
request's ``Exchange`` (its key id goes into the decision record and the metrics). A key that
lacks the scope gets a 403 naming it; one over its limits a 429 with ``Retry-After``.
``FeedbackCaller`` accepts ``feedback`` or ``verifier``; whose requests it may rate is checked
by the feedback endpoint, which knows the request.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request

from router.access.guard import Caller
from router.access.keys import Scope
from router.errors import PermissionDeniedError
from router.service.api.deps import GuardDep
from router.service.middleware import exchange_of

__all__ = ["AdminCaller", "AnyCaller", "ChatCaller", "FeedbackCaller", "RouteCaller"]


def _caller(*scopes: Scope) -> Callable[[Request, GuardDep], Awaitable[Caller]]:
    """A dependency admitting a caller with any one of ``scopes`` (none: any valid key)."""

    async def caller(request: Request, guard: GuardDep) -> Caller:
        server = request.scope.get("server")
        host = server[0] if server else None
        caller = await guard.authenticate(request.headers.get("authorization"), host)
        exchange_of(request).caller = caller
        if scopes and not any(caller.allows(scope) for scope in scopes):
            names = " or ".join(f"'{scope}'" for scope in scopes)
            raise PermissionDeniedError(f"key {caller.id} needs the {names} scope")
        await guard.admit(caller)
        return caller

    return caller


ChatCaller = Annotated[Caller, Depends(_caller(Scope.CHAT))]
RouteCaller = Annotated[Caller, Depends(_caller(Scope.ROUTE))]
FeedbackCaller = Annotated[Caller, Depends(_caller(Scope.FEEDBACK, Scope.VERIFIER))]
AdminCaller = Annotated[Caller, Depends(_caller(Scope.ADMIN))]
AnyCaller = Annotated[Caller, Depends(_caller())]
