"""The decision log's stores: SQLite by default, Redis Streams when ``ROUTER_REDIS_URL`` is set.

base.py     DecisionStore (the interface), DecisionSink (what the recorder writes to)
sqlite.py   SQLiteStore: one file under data_dir
redis.py    RedisStore and StreamConsumer: streams shared by processes and readers
spool.py    Spool and SpoolingSink: records wait on local disk while the store is away
export.py   the rows of ``router logs export``, written atomically
"""

from __future__ import annotations

from router.log.store.base import DecisionStore
from router.settings import Settings

__all__ = ["open_store"]


def open_store(settings: Settings) -> DecisionStore:
    """The store the settings select: Redis if ``redis_url`` is set, else SQLite in data_dir."""
    if settings.redis_url is not None:
        from router.log.store.redis import RedisStore

        return RedisStore.from_url(
            settings.redis_url, prefix=settings.redis_prefix, timeout_s=settings.redis_timeout_s
        )
    from router.log.store.sqlite import SQLiteStore

    return SQLiteStore(settings.decision_db_path)
