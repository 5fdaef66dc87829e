"""router.access.guard: open mode, bearer tokens, scopes."""

from __future__ import annotations

from pathlib import Path

import pytest

from router.access.guard import OPEN, Guard, is_loopback
from router.access.keys import Scope, issue
from router.access.keystore import KeyFile
from router.access.limits import LocalLimiter
from router.errors import PermissionDeniedError, UnauthenticatedError

pytestmark = pytest.mark.anyio


def _guard(tmp_path: Path, *, open_access: bool = False) -> Guard:
    return Guard(KeyFile(tmp_path / "keys.json"), LocalLimiter(), open_access=open_access)


async def test_without_keys_loopback_is_open_and_other_addresses_are_refused(
    tmp_path: Path,
) -> None:
    guard = _guard(tmp_path)
    assert (await guard.authenticate(None, "127.0.0.1")).id == OPEN
    assert (await guard.authenticate("Bearer unused", "::1")).id == OPEN
    with pytest.raises(UnauthenticatedError, match="ROUTER_OPEN_ACCESS"):
        await guard.authenticate(None, "10.0.0.5")
    opened = _guard(tmp_path, open_access=True)
    assert (await opened.authenticate(None, "10.0.0.5")).id == OPEN


async def test_once_a_key_exists_every_request_needs_a_valid_one(tmp_path: Path) -> None:
    guard = _guard(tmp_path)
    key, token = issue("app", {Scope.CHAT})
    KeyFile(tmp_path / "keys.json").add(key)
    with pytest.raises(UnauthenticatedError, match="missing API key"):
        await guard.authenticate(None, "127.0.0.1")
    with pytest.raises(UnauthenticatedError, match="invalid API key"):
        await guard.authenticate("Bearer unused", "127.0.0.1")
    caller = await guard.authenticate(f"Bearer {token}", "127.0.0.1")
    assert caller.id == key.id
    KeyFile(tmp_path / "keys.json").revoke(key.id)
    with pytest.raises(UnauthenticatedError, match="revoked"):
        await guard.authenticate(f"bearer {token}", "127.0.0.1")


async def test_a_missing_scope_is_a_403_naming_it(tmp_path: Path) -> None:
    guard = _guard(tmp_path)
    key, token = issue("app", {Scope.CHAT})
    KeyFile(tmp_path / "keys.json").add(key)
    caller = await guard.authenticate(f"Bearer {token}", "127.0.0.1")
    guard.require(caller, Scope.CHAT)
    with pytest.raises(PermissionDeniedError, match="'pin' scope to choose a tier"):
        guard.require(caller, Scope.PIN, "choose a tier")


@pytest.mark.parametrize(
    ("host", "loopback"),
    [("127.0.0.1", True), ("::1", True), ("localhost", True), ("0.0.0.0", False), (None, False)],
)
def test_loopback_addresses(host: str | None, loopback: bool) -> None:
    assert is_loopback(host) is loopback
