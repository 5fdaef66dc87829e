"""router.access.keys: tokens, hashes and scopes."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from router.access.keys import ApiKey, Limits, Scope, issue, key_id_of, token_sha256


def test_a_new_key_matches_its_token_and_stores_only_its_hash() -> None:
    key, token = issue("ci", {Scope.CHAT})
    assert key.matches(token)
    assert token not in key.model_dump_json()
    assert key.token_sha256 == token_sha256(token)
    assert key_id_of(token) == key.id


def test_a_token_of_another_key_or_altered_does_not_match() -> None:
    key, token = issue("ci", {Scope.CHAT})
    _, other = issue("ci", {Scope.CHAT})
    assert not key.matches(other)
    assert not key.matches(token[:-1] + ("A" if token[-1] != "A" else "B"))


@pytest.mark.parametrize("text", ["", "sk-123", "rk_0123_abc", "Bearer rk_x", "rk_" + "0" * 12])
def test_text_not_shaped_like_a_token_has_no_key_id(text: str) -> None:
    assert key_id_of(text) is None


def test_admin_has_every_scope_and_others_only_their_own() -> None:
    admin, _ = issue("ops", {Scope.ADMIN})
    chat, _ = issue("app", {Scope.CHAT})
    assert all(admin.allows(scope) for scope in Scope)
    assert chat.allows(Scope.CHAT)
    assert not chat.allows(Scope.PIN)


def test_a_revoked_key_is_not_active() -> None:
    key, _ = issue("app", {Scope.CHAT})
    assert key.active
    assert not key.revoked().active


def test_limits_must_be_positive() -> None:
    with pytest.raises(ValidationError):
        Limits(requests_per_minute=0)
    assert Limits(tokens_per_minute=10).label() == "- req/min, 10 tok/min"


def test_a_stored_key_with_a_malformed_hash_is_refused() -> None:
    key, _ = issue("app", {Scope.CHAT})
    with pytest.raises(ValidationError):
        ApiKey.model_validate(key.model_dump() | {"token_sha256": "abc"})
