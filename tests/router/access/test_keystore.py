"""router.access.keystore: the keys file and the Redis hash, as the service and CLI use them."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from router.access.keys import Scope, issue
from router.access.keystore import KeyFile, RedisKeys
from router.errors import KeyStoreError, UnknownKeyError
from tests.redis_fixtures import RedisServer

pytestmark = pytest.mark.anyio


async def test_a_missing_keys_file_means_no_keys_configured(tmp_path: Path) -> None:
    lookup = await KeyFile(tmp_path / "keys.json").find("key_0123456789ab")
    assert lookup.key is None
    assert not lookup.configured


async def test_the_keys_file_is_private_and_holds_no_token(tmp_path: Path) -> None:
    store = KeyFile(tmp_path / "keys.json")
    key, token = issue("app", {Scope.CHAT})
    store.add(key)
    assert stat.S_IMODE(os.stat(store.path).st_mode) == 0o600
    assert token not in store.path.read_text()
    assert (await store.find(key.id)).key == key


async def test_a_revocation_by_another_process_counts_on_the_next_lookup(tmp_path: Path) -> None:
    serving, cli = KeyFile(tmp_path / "keys.json"), KeyFile(tmp_path / "keys.json")
    key, _ = issue("app", {Scope.CHAT})
    cli.add(key)
    assert (await serving.find(key.id)).key == key
    cli.revoke(key.id)
    found = (await serving.find(key.id)).key
    assert found is not None and not found.active
    assert (await serving.find(None)).configured


def test_revoking_an_unknown_key_names_it(tmp_path: Path) -> None:
    with pytest.raises(UnknownKeyError, match="key_000000000000"):
        KeyFile(tmp_path / "keys.json").revoke("key_000000000000")


async def test_a_corrupt_keys_file_fails_closed(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    path.write_text("{not json")
    with pytest.raises(KeyStoreError, match="not a keys file"):
        await KeyFile(path).find("key_0123456789ab")


async def test_redis_keys_are_shared_and_revocation_is_seen_at_once(
    redis_server: RedisServer,
) -> None:
    cli = RedisKeys(redis_server.url, "t", 1.0)
    replicas = [RedisKeys(redis_server.url, "t", 1.0) for _ in range(2)]
    key, token = issue("app", {Scope.CHAT, Scope.PIN})
    assert not (await replicas[0].find(key.id)).configured
    cli.add(key)
    for replica in replicas:
        found = (await replica.find(key.id)).key
        assert found is not None and found.matches(token)
    cli.revoke(key.id)
    for replica in replicas:
        found = (await replica.find(key.id)).key
        assert found is not None and not found.active
    assert [listed.id for listed in cli.all()] == [key.id]
    for store in (cli, *replicas):
        await store.aclose()


async def test_redis_away_serves_the_last_copy_of_a_known_key_and_refuses_others(
    redis_server: RedisServer,
) -> None:
    store = RedisKeys(redis_server.url, "t", 0.5)
    key, _ = issue("app", {Scope.CHAT})
    store.add(key)
    assert (await store.find(key.id)).key == key
    redis_server.kill()
    assert (await store.find(key.id)).key == key
    with pytest.raises(KeyStoreError, match="cannot reach"):
        await store.find("key_ffffffffffff")
    await store.aclose()
