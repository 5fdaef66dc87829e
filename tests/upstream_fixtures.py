"""Fixtures for tests that call the local upstream; load with ``pytest_plugins``."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.upstream_server import UpstreamServer, running_upstream


@pytest.fixture
def upstream() -> Iterator[UpstreamServer]:
    """A fresh scripted upstream on a free port, stopped after the test."""
    with running_upstream() as server:
        yield server


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
