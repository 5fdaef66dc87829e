"""Fixtures for the decision log's stores: each test of ``store`` runs on SQLite and on Redis."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from router.log.store.base import DecisionStore
from router.log.store.redis import RedisStore
from router.log.store.sqlite import SQLiteStore
from tests.redis_fixtures import RedisServer


@pytest.fixture(params=["sqlite", "redis"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[DecisionStore]:
    """A fresh store of each backend: SQLite in the test's directory, Redis on its own server."""
    opened: DecisionStore
    if request.param == "sqlite":
        opened = SQLiteStore(tmp_path / "decisions.sqlite3")
    else:
        server: RedisServer = request.getfixturevalue("redis_server")
        opened = RedisStore.from_url(server.url, prefix="test")
    yield opened
    opened.close()
