"""Two replicas sharing one Redis: one key's rate limit and its revocation hold on both."""

from __future__ import annotations

import time

import httpx
from fastapi.testclient import TestClient

from router.access.keys import Limits, Scope, issue
from router.access.keystore import RedisKeys
from tests.redis_fixtures import RedisServer
from tests.router.service.api.conftest import EASY, MakeClient, user


def chat(client: TestClient, token: str) -> httpx.Response:
    return client.post(
        "/v1/chat/completions",
        json={"model": "auto", "messages": user(EASY)},
        headers={"Authorization": f"Bearer {token}"},
    )


def test_a_keys_limit_and_revocation_hold_on_every_replica(
    make_client: MakeClient, redis_server: RedisServer
) -> None:
    keys = RedisKeys(redis_server.url, "router", 1.0)
    limited, limited_token = issue("app", {Scope.CHAT}, Limits(requests_per_minute=4))
    revoked, revoked_token = issue("app", {Scope.CHAT})
    keys.add(limited)
    keys.add(revoked)
    replicas = [make_client(redis_url=redis_server.url) for _ in range(2)]

    statuses = [chat(replicas[turn % 2], limited_token).status_code for turn in range(8)]
    assert statuses.count(200) == 4
    assert statuses[4:] == [429] * 4
    for replica in replicas:
        response = chat(replica, limited_token)
        assert response.status_code == 429
        assert 1 <= int(response.headers["retry-after"]) <= 60

    assert all(chat(replica, revoked_token).status_code == 200 for replica in replicas)
    keys.revoke(revoked.id)
    revoked_at = time.monotonic()
    for replica in replicas:
        assert chat(replica, revoked_token).status_code == 401
    assert time.monotonic() - revoked_at < 1.0
