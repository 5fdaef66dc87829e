"""API keys: what a key may do (its scopes and limits), and how a presented token is checked.

A token is ``rk_<12 hex>_<secret>``: the hex part is the key's id (``key_<12 hex>``, safe to log
and to put in records and metric labels), the secret 32 random bytes. Only the token's sha256 is
stored; a presented token is matched against the stored hash of its id with a constant-time
comparison, so neither the key file nor Redis holds anything a client could send.

    key, token = issue("ci-bot", {Scope.CHAT, Scope.FEEDBACK}, Limits(requests_per_minute=60))
    key.matches(token)       # True; the token is shown once, at creation
    key_id_of(token)         # "key_..." or None for anything that is not a router token

Scopes: ``chat`` (``/v1/chat/completions``), ``route`` (``/v1/route``), ``feedback`` (feedback on
the key's own requests), ``pin`` (choose a tier or model instead of ``auto``), ``verifier``
(feedback on any request) and ``admin`` (every scope).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Iterable
from datetime import UTC, datetime
from enum import StrEnum
from typing import Final

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["TOKEN_PREFIX", "ApiKey", "Limits", "Scope", "issue", "key_id_of", "token_sha256"]

TOKEN_PREFIX: Final = "rk_"
_ID_HEX: Final = 12
_TOKEN: Final = re.compile(rf"{TOKEN_PREFIX}([0-9a-f]{{{_ID_HEX}}})_[A-Za-z0-9_-]{{43}}")


class Scope(StrEnum):
    CHAT = "chat"
    ROUTE = "route"
    FEEDBACK = "feedback"
    PIN = "pin"
    VERIFIER = "verifier"
    ADMIN = "admin"


class Limits(BaseModel):
    """Per-minute ceilings for one key; None is no limit."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    requests_per_minute: int | None = Field(default=None, ge=1)
    tokens_per_minute: int | None = Field(default=None, ge=1)

    def label(self) -> str:
        rpm, tpm = self.requests_per_minute, self.tokens_per_minute
        return f"{rpm or '-'} req/min, {tpm or '-'} tok/min"


class ApiKey(BaseModel):
    """One key as stored: never the token, only its sha256."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(pattern=rf"^key_[0-9a-f]{{{_ID_HEX}}}$")
    name: str = Field(min_length=1, max_length=200)
    scopes: frozenset[Scope]
    token_sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    created_at: datetime
    revoked_at: datetime | None = None
    limits: Limits = Field(default_factory=Limits)

    @property
    def active(self) -> bool:
        return self.revoked_at is None

    def allows(self, scope: Scope) -> bool:
        return scope in self.scopes or Scope.ADMIN in self.scopes

    def matches(self, token: str) -> bool:
        """Whether ``token`` is this key's (constant time in the token's content)."""
        return hmac.compare_digest(token_sha256(token), self.token_sha256)

    def revoked(self, at: datetime | None = None) -> ApiKey:
        return self.model_copy(update={"revoked_at": at or datetime.now(UTC)})


def token_sha256(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def key_id_of(token: str) -> str | None:
    """The id of the key ``token`` claims to be, or None if it is not shaped like a token."""
    match = _TOKEN.fullmatch(token)
    return None if match is None else f"key_{match.group(1)}"


def issue(name: str, scopes: Iterable[Scope], limits: Limits | None = None) -> tuple[ApiKey, str]:
    """A new key and its token (the only time the token exists outside the client)."""
    hex_id = secrets.token_hex(_ID_HEX // 2)
    token = f"{TOKEN_PREFIX}{hex_id}_{secrets.token_urlsafe(32)}"
    key = ApiKey(
        id=f"key_{hex_id}",
        name=name,
        scopes=frozenset(scopes),
        token_sha256=token_sha256(token),
        created_at=datetime.now(UTC),
        limits=limits or Limits(),
    )
    return key, token
