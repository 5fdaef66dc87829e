"""Reload announcements over Redis pub/sub: every replica switches as soon as CURRENT moves.

    <prefix>:reload     channel; each message is the version CURRENT now names

``announce_reload(settings, version)`` publishes; ``router models promote|rollback`` and a
promoting ``router train --logs`` call it when ``redis_url`` is set. ``listen_for_reloads`` runs
in the service's lifespan beside the ``CurrentWatcher`` and calls its ``nudge()`` on each
message. A message only wakes the watcher: CURRENT stays the truth, so a lost message costs one
polling interval, and a message naming a version CURRENT does not name changes nothing. A
subscription that breaks (Redis restarted) is opened again after ``retry_s``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from router.errors import ReloadAnnounceError
from router.settings import Settings

__all__ = ["announce_reload", "listen", "listen_for_reloads", "reload_channel"]

logger = logging.getLogger(__name__)


def reload_channel(prefix: str) -> str:
    return f"{prefix}:reload"


def announce_reload(settings: Settings, version: str) -> int:
    """Publish ``version`` on the reload channel; the number of services that heard it."""
    if settings.redis_url is None:
        raise ReloadAnnounceError("no redis_url: there is no channel to announce a reload on")
    import redis  # imported where used: the CLI imports this module for every command

    channel = reload_channel(settings.redis_prefix)
    client = redis.Redis.from_url(
        settings.redis_url,
        socket_timeout=settings.redis_timeout_s,
        socket_connect_timeout=settings.redis_timeout_s,
    )
    try:
        return int(client.publish(channel, version))
    except redis.RedisError as exc:
        raise ReloadAnnounceError(f"Redis: announcing {version} on {channel}: {exc}") from exc
    finally:
        client.close()


async def listen_for_reloads(
    settings: Settings, nudge: Callable[[], None], *, retry_s: float = 1.0
) -> None:
    """Call ``nudge()`` on every message of the reload channel, until cancelled."""
    await listen(settings, reload_channel(settings.redis_prefix), nudge, retry_s=retry_s)


async def listen(
    settings: Settings, channel: str, nudge: Callable[[], None], *, retry_s: float = 1.0
) -> None:
    """Call ``nudge()`` once subscribed to ``channel`` (to catch up with anything announced
    while not listening) and on every message, until cancelled; a broken subscription is
    opened again after ``retry_s``."""
    import redis
    import redis.asyncio

    assert settings.redis_url is not None
    while True:
        client = redis.asyncio.Redis.from_url(
            settings.redis_url, socket_connect_timeout=settings.redis_timeout_s
        )
        try:
            async with client.pubsub() as pubsub:
                await pubsub.subscribe(channel)
                nudge()
                async for message in pubsub.listen():
                    if message["type"] == "message":
                        nudge()
        except (redis.RedisError, OSError) as exc:
            logger.warning("channel %s lost, listening again in %ss: %s", channel, retry_s, exc)
        finally:
            await client.aclose()
        await asyncio.sleep(retry_s)
