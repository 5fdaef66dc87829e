"""router.access.limits: per-key limits, counted locally and across replicas in Redis."""

from __future__ import annotations

import pytest

from router.access.keys import Limits, Scope, issue
from router.access.limits import LocalLimiter, RateLimiter, RedisLimiter
from router.errors import RateLimitedError
from tests.redis_fixtures import RedisServer

pytestmark = pytest.mark.anyio


async def _admitted(limiter: RateLimiter, key_limits: Limits, calls: int) -> int:
    key, _ = issue("app", {Scope.CHAT}, key_limits)
    admitted = 0
    for _ in range(calls):
        try:
            await limiter.acquire(key)
        except RateLimitedError as exc:
            assert 1 <= exc.retry_after_s <= 60
            assert exc.headers == {"Retry-After": str(exc.retry_after_s)}
        else:
            admitted += 1
    return admitted


async def test_local_requests_per_minute() -> None:
    assert await _admitted(LocalLimiter(), Limits(requests_per_minute=3), 5) == 3


async def test_no_limits_admit_everything() -> None:
    assert await _admitted(LocalLimiter(), Limits(), 50) == 50


async def test_tokens_per_minute_stop_requests_once_used_up() -> None:
    limiter = LocalLimiter()
    key, _ = issue("app", {Scope.CHAT}, Limits(tokens_per_minute=100))
    await limiter.acquire(key)
    await limiter.charge(key, 60)
    await limiter.acquire(key)
    await limiter.charge(key, 60)
    with pytest.raises(RateLimitedError, match=key.id):
        await limiter.acquire(key)


async def test_two_replicas_share_one_count_in_redis(redis_server: RedisServer) -> None:
    replicas = [RedisLimiter(redis_server.url, "t", 1.0) for _ in range(2)]
    key, _ = issue("app", {Scope.CHAT}, Limits(requests_per_minute=4, tokens_per_minute=50))
    admitted = 0
    for turn in range(8):
        try:
            await replicas[turn % 2].acquire(key)
            admitted += 1
        except RateLimitedError as exc:
            assert 1 <= exc.retry_after_s <= 60
    assert admitted == 4
    other, _ = issue("app", {Scope.CHAT}, Limits(tokens_per_minute=50))
    await replicas[0].charge(other, 50)
    with pytest.raises(RateLimitedError):
        await replicas[1].acquire(other)
    for replica in replicas:
        await replica.aclose()


async def test_redis_away_counts_locally(redis_server: RedisServer) -> None:
    limiter = RedisLimiter(redis_server.url, "t", 0.5)
    redis_server.kill()
    assert await _admitted(limiter, Limits(requests_per_minute=2), 4) == 2
    await limiter.aclose()
