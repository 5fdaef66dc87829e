"""Per-key rate limits: requests and tokens per minute, shared by replicas through Redis.

    limiter = open_limiter(settings)        # Redis when ROUTER_REDIS_URL is set, else local
    await limiter.acquire(key)              # RateLimitedError (429, Retry-After) when over
    await limiter.charge(key, tokens)       # after the answer: the tokens it used

Each key has two counters, for the requests and the tokens of its current window. A window
starts at the first request after the previous one ended and lasts a minute (a fixed window:
a key may send up to twice its limit across a window boundary, never more). A request is
refused while the window's requests reached ``requests_per_minute`` or its tokens reached
``tokens_per_minute``; tokens are known only after the answer, so the request that crosses the
token limit is served and the next ones wait. A refused request does not count. ``Retry-After``
is the seconds until the window ends.

On Redis the check and the count are one Lua script (``<prefix>:limits:<key id>:requests`` and
``:tokens``, each expiring with its window), so every replica sees one count. If Redis cannot be
reached the limiter counts locally until it can (logged), rather than refusing every request.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from typing import Final, Protocol

import redis
import redis.asyncio as aioredis

from router.access.keys import ApiKey, Limits
from router.errors import RateLimitedError
from router.settings import Settings

__all__ = ["LocalLimiter", "RateLimiter", "RedisLimiter", "open_limiter"]

logger = logging.getLogger(__name__)

WINDOW_S: Final = 60.0

# KEYS: requests, tokens; ARGV: requests_per_minute (0: none), tokens_per_minute (0: none),
# window in ms. Returns 0 (counted) or the milliseconds until the blocking window ends.
_ACQUIRE: Final = """#!lua
local function left(key)
  local ttl = redis.call('PTTL', key)
  if ttl < 0 then return tonumber(ARGV[3]) end
  return ttl
end
local rpm, tpm = tonumber(ARGV[1]), tonumber(ARGV[2])
if tpm > 0 and tonumber(redis.call('GET', KEYS[2]) or '0') >= tpm then
  return left(KEYS[2])
end
if rpm > 0 then
  local count = redis.call('INCR', KEYS[1])
  if redis.call('PTTL', KEYS[1]) < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[3]) end
  if count > rpm then
    redis.call('DECR', KEYS[1])
    return left(KEYS[1])
  end
end
return 0
"""
_CHARGE: Final = """#!lua
redis.call('INCRBY', KEYS[1], ARGV[1])
if redis.call('PTTL', KEYS[1]) < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 1
"""


class RateLimiter(Protocol):
    async def acquire(self, key: ApiKey) -> None: ...
    async def charge(self, key: ApiKey, tokens: int) -> None: ...
    async def aclose(self) -> None: ...


def open_limiter(settings: Settings) -> RateLimiter:
    if settings.redis_url is None:
        return LocalLimiter()
    return RedisLimiter(settings.redis_url, settings.redis_prefix, settings.redis_timeout_s)


def _limited(key: ApiKey, wait_s: float) -> RateLimitedError:
    retry_after = max(1, math.ceil(wait_s))
    return RateLimitedError(
        f"key {key.id} is over its rate limit ({key.limits.label()}); retry in {retry_after} s",
        retry_after_s=retry_after,
    )


@dataclass
class _Window:
    ends: float
    count: int = 0


class LocalLimiter:
    """The limits counted in this process (embedded mode, or while Redis is away)."""

    def __init__(self) -> None:
        self._requests: dict[str, _Window] = {}
        self._tokens: dict[str, _Window] = {}

    async def acquire(self, key: ApiKey) -> None:
        self.take(key)

    async def charge(self, key: ApiKey, tokens: int) -> None:
        if key.limits.tokens_per_minute is not None and tokens > 0:
            self._window(self._tokens, key.id).count += tokens

    async def aclose(self) -> None:
        return None

    def take(self, key: ApiKey) -> None:
        limits: Limits = key.limits
        tokens = self._window(self._tokens, key.id)
        tpm = limits.tokens_per_minute
        if tpm is not None and tokens.count >= tpm:
            raise _limited(key, tokens.ends - time.monotonic())
        if limits.requests_per_minute is None:
            return
        requests = self._window(self._requests, key.id)
        if requests.count >= limits.requests_per_minute:
            raise _limited(key, requests.ends - time.monotonic())
        requests.count += 1

    @staticmethod
    def _window(windows: dict[str, _Window], key_id: str) -> _Window:
        now = time.monotonic()
        window = windows.get(key_id)
        if window is None or window.ends <= now:
            window = windows[key_id] = _Window(now + WINDOW_S)
        return window


class RedisLimiter:
    """The limits counted in Redis, one count for every replica."""

    def __init__(self, url: str, prefix: str, timeout_s: float) -> None:
        self.prefix = prefix
        self._client = aioredis.Redis.from_url(
            url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s
        )
        self._acquire = self._client.register_script(_ACQUIRE)
        self._charge = self._client.register_script(_CHARGE)
        self._fallback = LocalLimiter()

    async def acquire(self, key: ApiKey) -> None:
        limits = key.limits
        if limits.requests_per_minute is None and limits.tokens_per_minute is None:
            return
        args = [limits.requests_per_minute or 0, limits.tokens_per_minute or 0, _window_ms()]
        try:
            wait_ms = int(await self._acquire(keys=self._keys(key), args=args))
        except redis.RedisError as exc:
            logger.warning("Redis unreachable (%s): key %s's limit counted locally", exc, key.id)
            self._fallback.take(key)
            return
        if wait_ms > 0:
            raise _limited(key, wait_ms / 1000.0)

    async def charge(self, key: ApiKey, tokens: int) -> None:
        if key.limits.tokens_per_minute is None or tokens <= 0:
            return
        try:
            await self._charge(keys=self._keys(key)[1:], args=[tokens, _window_ms()])
        except redis.RedisError as exc:
            logger.warning("Redis unreachable (%s): key %s's tokens counted locally", exc, key.id)
            await self._fallback.charge(key, tokens)

    async def aclose(self) -> None:
        await self._client.aclose()

    def _keys(self, key: ApiKey) -> list[str]:
        base = f"{self.prefix}:limits:{key.id}"
        return [f"{base}:requests", f"{base}:tokens"]


def _window_ms() -> int:
    return int(WINDOW_S * 1000)
