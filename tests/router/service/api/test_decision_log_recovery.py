"""Nothing lost, nothing twice: the decision log through outages and restarts, under load.

Every test sends a burst of chat requests through the real app (uvicorn on a free port, the
HashingEncoder stand-in, litellm and the local upstream over HTTP), breaks something in the
middle, and then checks that every request the client got an answer for has exactly one record.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, closing
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from router.log.store.sqlite import SQLiteStore
from router.settings import PROJECT_ROOT
from tests.redis_fixtures import RedisServer, free_port
from tests.router.service.api.conftest import KEY, KEY_ENV, MakeApp, policy_data, user
from tests.router.service.api.live import serving
from tests.upstream_server import UpstreamServer

CONCURRENCY = 32
SETTLE_TIMEOUT_S = 30.0

Progress = Callable[[int], None]


async def burst(
    url: str, count: int, start: int = 0, on_answer: Progress | None = None
) -> list[str]:
    """Send ``count`` distinct chat requests, ``CONCURRENCY`` at a time; the request ids of
    those answered with a 200 (a refused connection or a reset is not an answer)."""
    answered: list[str] = []
    numbers = iter(range(start, start + count))
    limits = httpx.Limits(max_connections=CONCURRENCY)
    async with httpx.AsyncClient(base_url=url, timeout=30.0, limits=limits) as client:

        async def worker() -> None:
            for n in numbers:
                body = {"model": "auto", "messages": user(f"What is the capital of France? #{n}")}
                try:
                    response = await client.post("/v1/chat/completions", json=body)
                except httpx.TransportError as exc:
                    print(f"request #{n}: {type(exc).__name__}: {exc}")
                    continue
                if response.status_code != 200:
                    print(f"request #{n}: {response.status_code} {response.text[:300]}")
                if response.status_code == 200:
                    answered.append(response.headers["x-router-request-id"])
                    if on_answer is not None:
                        on_answer(len(answered))

        await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    return answered


def gauges(url: str) -> dict[str, float]:
    text = httpx.get(f"{url}/metrics").text
    return {
        sample.name: sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def wait_until_settled(url: str) -> None:
    """Until the app's queue and spool are both empty."""
    deadline = time.monotonic() + SETTLE_TIMEOUT_S
    while True:
        values = gauges(url)
        if values["router_decision_log_queued"] == values["router_decision_log_spooled"] == 0:
            return
        assert time.monotonic() < deadline, f"the log did not settle: {values}"
        time.sleep(0.1)


def redis_ids(server: RedisServer) -> Counter[str]:
    with server.client() as client:
        return Counter(
            fields[b"request_id"].decode() for _, fields in client.xrange("router:decisions")
        )


def sqlite_ids(data_dir: Path) -> Counter[str]:
    store = SQLiteStore(data_dir / "decisions.sqlite3")
    try:
        return Counter(logged.record.request_id for logged in store.logged())
    finally:
        store.close()


def spooled_ever(data_dir: Path) -> int:
    """How many records went through the spool (its AUTOINCREMENT counter)."""
    path = data_dir / "decision-spool.sqlite3"
    with closing(sqlite3.connect(path)) as db:
        row = db.execute("SELECT seq FROM sqlite_sequence WHERE name = 'spooled'").fetchone()
    return 0 if row is None else int(row[0])


def exactly_once(stored: Counter[str], answered: list[str]) -> None:
    duplicated = {request_id: n for request_id, n in stored.items() if n > 1}
    missing = set(answered) - set(stored)
    assert duplicated == {}, f"{len(duplicated)} records stored twice"
    assert missing == set(), f"{len(missing)} answered requests have no record"
    assert len(answered) == len(set(answered))


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


def redis_app(make_app: MakeApp, data_dir: Path, server: RedisServer) -> Any:
    return make_app(
        sink=None,
        data_dir=data_dir,
        redis_url=server.url,
        redis_timeout_s=0.5,
        spool_retry_max_s=0.5,
        upstream_retries=0,
    )


@pytest.mark.slow
def test_redis_killed_mid_burst_loses_and_doubles_nothing(
    make_app: MakeApp, upstream: UpstreamServer, redis_server: RedisServer, data_dir: Path
) -> None:
    # Off the client's event loop: a client does not stall while Redis restarts, and a stalled
    # one lets the server close its idle keep-alive connections under requests it then sends.
    operator = ThreadPoolExecutor(max_workers=1)

    def chaos(answered: int) -> None:
        if answered == 500:
            operator.submit(redis_server.kill)
        elif answered == 1200:
            operator.submit(redis_server.start)

    with serving(redis_app(make_app, data_dir, redis_server)) as url:
        answered = asyncio.run(burst(url, 2000, on_answer=chaos))
        operator.shutdown(wait=True)
        wait_until_settled(url)

    stored = redis_ids(redis_server)
    spooled = spooled_ever(data_dir)
    print(f"\nanswered {len(answered)}, stored {sum(stored.values())}, spooled {spooled}")
    assert len(answered) == 2000
    exactly_once(stored, answered)
    assert sum(stored.values()) == 2000
    assert spooled >= 500  # the outage was real: many records waited in the spool


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["sqlite", "redis"])
def test_a_service_restart_mid_burst_loses_and_doubles_nothing(
    make_app: MakeApp,
    upstream: UpstreamServer,
    request: pytest.FixtureRequest,
    data_dir: Path,
    backend: str,
) -> None:
    """Redis: it dies first, so the first app shuts down with records in its spool, which the
    second app replays once Redis is back."""
    server: RedisServer | None = None
    if backend == "redis":
        server = request.getfixturevalue("redis_server")

    def make() -> Any:
        if server is None:
            return make_app(sink=None, data_dir=data_dir, upstream_retries=0)
        return redis_app(make_app, data_dir, server)

    answered: list[str] = []
    with ExitStack() as first:
        url = first.enter_context(serving(make()))
        answered += asyncio.run(burst(url, 400))
        if server is not None:
            server.kill()

        async def stop_during_load() -> list[str]:
            sending = asyncio.create_task(burst(url, 300, start=400))
            await asyncio.sleep(0.5)
            await asyncio.to_thread(first.close)  # the lifespan's shutdown, requests in flight
            return await sending

        answered += asyncio.run(stop_during_load())
    left_in_spool = spooled_ever(data_dir) if server is not None else 0
    if server is not None:
        server.start()

    with serving(make()) as url:
        answered += asyncio.run(burst(url, 300, start=700))
        wait_until_settled(url)

    stored = redis_ids(server) if server is not None else sqlite_ids(data_dir)
    print(f"\nanswered {len(answered)}, stored {sum(stored.values())}, spooled {left_in_spool}")
    assert len(answered) >= 700
    exactly_once(stored, answered)
    if server is not None:
        assert left_in_spool > 0


# --- SIGTERM ---------------------------------------------------------------------------------


SERVICE = """
import sys, time
import uvicorn
from classifiers.encoder import HashingEncoder
from router.service.app import create_app
from router.settings import Settings
from router.log.store.spool import Spool, SpoolingSink
from router.log.store.sqlite import SQLiteStore

class Slow:
    # The real sink, slowed to 50 records a second so that a queue builds up under load.
    def __init__(self, inner):
        self.inner = inner
    def write(self, record):
        time.sleep(0.02)
        self.inner.write(record)
    def close(self):
        self.inner.close()

models_dir, policy_path, data_dir, port = sys.argv[1:]
settings = Settings(models_dir=models_dir, policy_path=policy_path, data_dir=data_dir)
store = SQLiteStore(settings.decision_db_path)
sink = Slow(SpoolingSink(store, Spool(settings.decision_spool_path)))
app = create_app(settings, encoder_loader=lambda _: HashingEncoder(384), sink=sink)
uvicorn.run(app, host="127.0.0.1", port=int(port), log_level="warning",
            timeout_graceful_shutdown=10)
store.close()
"""


@pytest.fixture
def service(
    tmp_path: Path, models_dir: Path, upstream: UpstreamServer, data_dir: Path
) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """The app under uvicorn in a process of its own, its sink slowed down."""
    import yaml

    policy = tmp_path / "service-policy.yaml"
    policy.write_text(yaml.safe_dump(policy_data(upstream.url)), encoding="utf-8")
    script = tmp_path / "service.py"
    script.write_text(textwrap.dedent(SERVICE), encoding="utf-8")
    port = free_port()
    env: Mapping[str, str] = os.environ | {KEY_ENV: KEY, "PYTHONPATH": str(PROJECT_ROOT)}
    process = subprocess.Popen(
        [sys.executable, str(script), str(models_dir), str(policy), str(data_dir), str(port)],
        cwd=PROJECT_ROOT,
        env=dict(env),
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60.0
    while True:
        try:
            if httpx.get(f"{url}/readyz").status_code == 200:
                break
        except httpx.TransportError:
            pass
        assert process.poll() is None, "the service exited at start"
        assert time.monotonic() < deadline, "the service did not become ready"
        time.sleep(0.1)
    try:
        yield process, url
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10.0)


@pytest.mark.slow
def test_sigterm_under_load_writes_every_queued_record_before_exiting(
    service: tuple[subprocess.Popen[bytes], str], data_dir: Path
) -> None:
    process, url = service
    queued_at_sigterm = 0.0

    async def load_then_sigterm() -> list[str]:
        nonlocal queued_at_sigterm
        sending = asyncio.create_task(burst(url, 3000))
        deadline = time.monotonic() + 20.0
        while queued_at_sigterm < 100 and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
            queued_at_sigterm = (await asyncio.to_thread(gauges, url))["router_decision_log_queued"]
        process.send_signal(signal.SIGTERM)
        return await sending

    answered = asyncio.run(load_then_sigterm())
    # uvicorn shuts down gracefully, then raises the signal again: the exit is SIGTERM's
    assert process.wait(30.0) in (0, -signal.SIGTERM)

    stored = sqlite_ids(data_dir)
    counts = f"answered {len(answered)}, stored {len(stored)}"
    print(f"\nqueued at SIGTERM {queued_at_sigterm:.0f}, {counts}")
    assert queued_at_sigterm >= 100
    exactly_once(stored, answered)
    assert len(answered) < 3000  # the load was cut short by the signal
