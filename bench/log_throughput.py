"""Decision log: records per second for each store, and the latency logging adds to a request.

    .venv/bin/python -m bench.log_throughput [--records 20000] [--requests 300] [--rounds 3]

Runs side by side, in one process, on this machine:

- **Throughput**, for SQLite (a file in a temporary directory) and Redis (a ``redis-server`` the
  bench starts on a free port, ``appendonly yes``, ``appendfsync everysec``): the store alone
  (``append_decisions`` in batches of 256, the recorder's batch), the whole path (``submit`` every
  record to a ``DecisionRecorder`` over a ``SpoolingSink``, timed until ``close`` returns, so
  every record is written), and the spool alone, one record per transaction (what a request's
  thread pays when the queue is full).
- **Request path**: ``DecisionRecorder.submit`` per call; building the record (``ScoredPrompt``
  and ``DecisionRecord``); and chat requests through the real app (uvicorn, the HashingEncoder
  stand-in, litellm, the test upstream over loopback), one at a time, to three copies of the app
  in processes of their own: logging off (a sink that discards the records: they are still built
  and queued), to SQLite and to Redis, one request to each in turn so that drift and neighbours'
  load fall on all alike. The target: under 0.5 ms added at p50.

Prints a table and asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

PROJECT_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_ROOT))  # tests/ (the upstream, redis and record helpers)

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("LITELLM_OFFLINE_MODE", "true")

BATCH = 256
WARMUP = 50
TARGET_MS = 0.5


@dataclass(frozen=True)
class Rate:
    label: str
    records: int
    seconds: float

    @property
    def per_second(self) -> float:
        return self.records / self.seconds


def main(argv: Sequence[str] | None = None) -> int:
    args = _arguments(argv)
    from tests.redis_fixtures import RedisServer

    with tempfile.TemporaryDirectory(prefix="router-log-bench-") as scratch:
        root = Path(scratch)
        (root / "redis").mkdir()
        redis_server = RedisServer(root / "redis")
        redis_server.start()
        try:
            print(_header(args, redis_server.url))
            records = _records(args.records)
            rates = _throughput(root, redis_server.url, records)
            submit = _submit_timings(root, records[:5000])
            build = _build_timings(2000)
            requests = _request_latency(root, redis_server.url, args.requests, args.rounds)
        finally:
            redis_server.kill()
    print(_table(rates, submit, build, requests))
    return 0


def _arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Decision log throughput and added latency.")
    parser.add_argument("--records", type=int, default=20_000, help="records per throughput run")
    parser.add_argument("--requests", type=int, default=300, help="requests per app and round")
    parser.add_argument("--rounds", type=int, default=3)
    return parser.parse_args(argv)


def _header(args: argparse.Namespace, redis_url: str) -> str:
    load = os.getloadavg()[0]
    return (
        f"decision log bench: {args.records} records per throughput run, {args.requests} requests"
        f" x {args.rounds} rounds per app; redis {redis_url}; {os.cpu_count()} CPUs,"
        f" load {load:.2f}"
    )


def _records(count: int) -> list[Any]:
    from tests.router.conftest import decision_record

    return [decision_record(n) for n in range(count)]


# --- throughput ----------------------------------------------------------------------------


def _throughput(root: Path, redis_url: str, records: Sequence[Any]) -> list[Rate]:
    from router.log.store.redis import RedisStore
    from router.log.store.sqlite import SQLiteStore

    rates = []
    for name, open_store in (
        ("sqlite", lambda tag: SQLiteStore(root / f"{tag}.sqlite3")),
        ("redis", lambda tag: RedisStore.from_url(redis_url, prefix=f"bench-{tag}")),
    ):
        rates.append(_store_alone(name, open_store("alone"), records))
        rates.append(_whole_path(name, open_store("path"), records, root / f"{name}-spool.sqlite3"))
    rates.append(_spool_alone(root / "overflow-spool.sqlite3", records[:2000]))
    return rates


def _store_alone(name: str, store: Any, records: Sequence[Any]) -> Rate:
    started = time.perf_counter()
    for start in range(0, len(records), BATCH):
        store.append_decisions(records[start : start + BATCH])
    elapsed = time.perf_counter() - started
    store.close()
    return Rate(f"{name}: store.append_decisions, batches of {BATCH}", len(records), elapsed)


def _whole_path(name: str, store: Any, records: Sequence[Any], spool_path: Path) -> Rate:
    from router.log.decision_log import DecisionRecorder
    from router.log.store.spool import Spool, SpoolingSink

    sink = SpoolingSink(store, Spool(spool_path))
    sink.start()
    recorder = DecisionRecorder(sink, capacity=len(records) + 1)
    recorder.start()
    started = time.perf_counter()
    for record in records:
        recorder.submit(record)
    recorder.close(timeout_s=120.0)
    elapsed = time.perf_counter() - started
    store.close()
    return Rate(f"{name}: submit -> recorder -> spooling sink -> store", len(records), elapsed)


def _spool_alone(path: Path, records: Sequence[Any]) -> Rate:
    from router.log.store.spool import Spool

    spool = Spool(path)
    started = time.perf_counter()
    for record in records:
        spool.append([record])
    elapsed = time.perf_counter() - started
    spool.close()
    return Rate("spool.append, one record per transaction (overflow)", len(records), elapsed)


# --- the request path ----------------------------------------------------------------------


def _submit_timings(root: Path, records: Sequence[Any]) -> dict[str, list[float]]:
    """Microseconds per ``submit`` with each sink behind the recorder."""
    from router.log.decision_log import DecisionRecorder
    from router.log.store.spool import Spool, SpoolingSink
    from router.log.store.sqlite import SQLiteStore

    timings = {}
    for label, sink in (
        ("discard", _Discard()),
        (
            "sqlite",
            SpoolingSink(
                SQLiteStore(root / "submit.sqlite3"), Spool(root / "submit-spool.sqlite3")
            ),
        ),
    ):
        recorder = DecisionRecorder(sink, capacity=len(records) + 1)
        recorder.start()
        micros = []
        for record in records:
            started = time.perf_counter_ns()
            recorder.submit(record)
            micros.append((time.perf_counter_ns() - started) / 1000.0)
        recorder.close(timeout_s=60.0)
        timings[label] = micros
    return timings


def _build_timings(count: int) -> list[float]:
    """Microseconds to build what the log keeps of a request: the prompt's hash, float16
    embedding and features (on the decision's thread) and the record (on the event loop)."""
    from records import ScoredPrompt
    from tests.router.conftest import decision_record

    vector = np.linspace(-1.0, 1.0, 384, dtype=np.float32)
    micros = []
    for n in range(count):
        started = time.perf_counter_ns()
        prompt = ScoredPrompt.of(f"Case {n}: why is the sky blue at noon but red at dusk?", vector)
        decision_record(n, embedding=prompt.embedding, features=prompt.features)
        micros.append((time.perf_counter_ns() - started) / 1000.0)
    return micros


def _request_latency(
    root: Path, redis_url: str, requests: int, rounds: int
) -> dict[str, list[float]]:
    """Milliseconds per chat request through the real app, logging off, to SQLite, to Redis:
    each app in a process of its own, one request to each in turn (the order rotating), so that
    drift and neighbours' load fall on all alike."""
    from tests.upstream_server import running_upstream

    labels = ("off", "sqlite", "redis")
    context = multiprocessing.get_context("spawn")
    with running_upstream() as upstream:
        _prepare(root, upstream.url)
        services = [_start(context, root, label, redis_url) for label in labels]
        try:
            urls = {label: url for label, (_, url) in zip(labels, services, strict=True)}
            for url in urls.values():
                _wait_ready(url)
            asyncio.run(_interleaved(urls, WARMUP))
            return asyncio.run(_interleaved(urls, requests * rounds))
        finally:
            for process, _ in services:
                process.terminate()
                process.join(10)


def _prepare(root: Path, upstream_url: str) -> None:
    """The stand-in classifier and a policy whose tiers all call the test upstream."""
    import yaml

    from tests.router.service.api.conftest import policy_data, publish_classifier

    publish_classifier(root / "models")
    policy = root / "policy.yaml"
    policy.write_text(yaml.safe_dump(policy_data(upstream_url)), encoding="utf-8")


def _start(context: Any, root: Path, label: str, redis_url: str) -> tuple[Any, str]:
    parent, child = context.Pipe()
    process = context.Process(target=_serve, args=(child, str(root), label, redis_url), daemon=True)
    process.start()
    if not parent.poll(60.0):
        process.terminate()
        raise RuntimeError(f"the {label} service did not start")
    return process, str(parent.recv())


def _serve(conn: Any, root: str, label: str, redis_url: str) -> None:
    """A child process: the app with logging ``label`` under uvicorn on a loopback port."""
    import socket

    import uvicorn

    os.environ["DIFFICULTY_ROUTER_API_TEST_KEY"] = "sk-bench"
    app = _app(Path(root), label, redis_url)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind(("127.0.0.1", 0))
    conn.send(f"http://127.0.0.1:{sock.getsockname()[1]}")
    config = uvicorn.Config(app, log_level="warning", access_log=False, ws="none")
    uvicorn.Server(config).run(sockets=[sock])


def _wait_ready(url: str) -> None:
    import httpx

    deadline = time.monotonic() + 60.0
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/readyz", timeout=2.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not become ready")


async def _interleaved(urls: dict[str, str], count: int) -> dict[str, list[float]]:
    import httpx

    latencies: dict[str, list[float]] = {label: [] for label in urls}
    async with AsyncExitStack() as stack:
        clients = {
            label: await stack.enter_async_context(httpx.AsyncClient(base_url=url, timeout=30.0))
            for label, url in urls.items()
        }
        order = list(clients)
        for n in range(count):
            for label in order[n % 3 :] + order[: n % 3]:
                text = f"{label} {n}: why is the sky blue?"
                body = {"model": "auto", "messages": [{"role": "user", "content": text}]}
                started = time.perf_counter()
                response = await clients[label].post("/v1/chat/completions", json=body)
                latencies[label].append((time.perf_counter() - started) * 1000.0)
                response.raise_for_status()
    return latencies


class _Discard:
    """Logging off: the records are built and queued as ever, then dropped."""

    def write(self, record: Any) -> None:
        pass

    def close(self) -> None:
        pass


def _app(root: Path, label: str, redis_url: str) -> Any:
    from classifiers.encoder import HashingEncoder
    from router.service.app import create_app
    from router.settings import Settings

    settings = Settings(
        models_dir=root / "models",
        policy_path=root / "policy.yaml",
        data_dir=root / f"data-{label}",
        redis_url=redis_url if label == "redis" else None,
        redis_prefix=f"bench-app-{label}",
        reload_interval_s=0,
    )
    sink = _Discard() if label == "off" else None
    return create_app(settings, encoder_loader=lambda _: HashingEncoder(384), sink=sink)


# --- the table -----------------------------------------------------------------------------


def _table(
    rates: Sequence[Rate],
    submit: dict[str, list[float]],
    build: list[float],
    requests: dict[str, list[float]],
) -> str:
    lines = ["", "throughput                                                  records/s      n"]
    lines += [f"  {rate.label:<56} {rate.per_second:>10,.0f} {rate.records:>6}" for rate in rates]
    lines += ["", "request path                                                   p50      p99"]
    for label, micros in submit.items():
        lines.append(_percentiles(f"submit() with the {label} sink (us)", micros))
    lines.append(_percentiles("ScoredPrompt + DecisionRecord built (us)", build))
    for label, millis in requests.items():
        lines.append(_percentiles(f"chat request, logging {label} (ms)", millis))
    off = float(np.percentile(requests["off"], 50))
    lines.append("")
    for label in ("sqlite", "redis"):
        added = float(np.percentile(requests[label], 50)) - off
        verdict = "within" if added < TARGET_MS else "OVER"
        lines.append(
            f"  added at p50 by logging to {label}: {added:+.3f} ms ({verdict} the"
            f" {TARGET_MS} ms target)"
        )
    return "\n".join(lines)


def _percentiles(label: str, values: Sequence[float]) -> str:
    p50, p99 = np.percentile(values, [50, 99])
    return f"  {label:<56} {p50:>8.3f} {p99:>8.3f}"


if __name__ == "__main__":
    raise SystemExit(main())
