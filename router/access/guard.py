"""Who is calling: the key a request presents, checked against the store, its scopes, its limits.

    guard = Guard(store, limiter, open_access=settings.open_access)
    caller = await guard.authenticate(request.headers.get("authorization"), server_host)
    guard.require(caller, Scope.PIN)      # PermissionDeniedError (403) naming the scope
    await guard.admit(caller)             # RateLimitedError (429) when over its limits

With no key in the store (none ever created) the service is **open**: every caller is the
anonymous ``Caller(None)`` with every scope, but only on a loopback address, unless
``open_access`` says open access is meant. Once any key exists, revoked or not, every request
needs a valid one: no key, an unknown, malformed or revoked one is a 401 (the message never says
which secret part was wrong).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Final

from router.access.keys import ApiKey, Scope, key_id_of
from router.access.keystore import KeyStore
from router.access.limits import RateLimiter
from router.errors import PermissionDeniedError, UnauthenticatedError

__all__ = ["OPEN", "Caller", "Guard", "is_loopback"]

OPEN: Final = "open"
_SCHEME: Final = "bearer "


@dataclass(frozen=True)
class Caller:
    """The key behind a request; None when the service runs open."""

    key: ApiKey | None

    @property
    def id(self) -> str:
        """The key's id (never its token), or ``open``: safe for records and metric labels."""
        return OPEN if self.key is None else self.key.id

    def allows(self, scope: Scope) -> bool:
        return self.key is None or self.key.allows(scope)


def is_loopback(host: str | None) -> bool:
    if host is None:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def bearer_token(authorization: str | None) -> str | None:
    if authorization is None or not authorization.lower().startswith(_SCHEME):
        return None
    return authorization[len(_SCHEME) :].strip() or None


class Guard:
    def __init__(self, store: KeyStore, limiter: RateLimiter, *, open_access: bool) -> None:
        self.store = store
        self.limiter = limiter
        self.open_access = open_access

    async def authenticate(self, authorization: str | None, server_host: str | None) -> Caller:
        token = bearer_token(authorization)
        lookup = await self.store.find(None if token is None else key_id_of(token))
        if not lookup.configured:
            return self._open(server_host)
        if token is None:
            raise UnauthenticatedError("missing API key: send it as 'Authorization: Bearer <key>'")
        key = lookup.key
        if key is None or not key.matches(token):
            raise UnauthenticatedError("invalid API key")
        if not key.active:
            raise UnauthenticatedError(f"API key {key.id} was revoked")
        return Caller(key)

    def require(self, caller: Caller, scope: Scope, why: str | None = None) -> None:
        if not caller.allows(scope):
            reason = f" to {why}" if why else ""
            raise PermissionDeniedError(f"key {caller.id} needs the '{scope}' scope{reason}")

    async def admit(self, caller: Caller) -> None:
        if caller.key is not None:
            await self.limiter.acquire(caller.key)

    async def charge(self, caller: Caller, tokens: int) -> None:
        if caller.key is not None:
            await self.limiter.charge(caller.key, tokens)

    async def aclose(self) -> None:
        await self.store.aclose()
        await self.limiter.aclose()

    def _open(self, server_host: str | None) -> Caller:
        if self.open_access or is_loopback(server_host):
            return Caller(None)
        raise UnauthenticatedError(
            "no API keys are configured and this address is not loopback: create one with"
            " `router keys create`, or set ROUTER_OPEN_ACCESS=true if open access is intended"
        )
