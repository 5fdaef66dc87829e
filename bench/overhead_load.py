"""The service overhead bench's load: the paths it times and how it drives them.

``measure`` warms every path, then sends ``--requests-c1`` requests per path one at a time and
``--requests-cn`` at ``--concurrency``, interleaved in rounds whose order rotates, and returns the
timings per concurrency and path with each service's mean decision time.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from itertools import count
from pathlib import Path

import httpx
import numpy as np

from bench.overhead_setup import BENCH_PRICE, UPSTREAM_MODEL

PROMPT = "Case {i}: explain briefly why the sky looks blue at noon but red at sunset."
WARMUP = 20
ROUND = 250

Send = Callable[[], Awaitable[str | None]]
"""Sends one request; returns None when it succeeded, else what went wrong."""


@dataclass
class Timings:
    """Latencies (ms) of the requests that succeeded, what went wrong with those that did not, and
    the service's CPU time while they ran."""

    ms: list[float] = field(default_factory=list)
    failures: Counter[str] = field(default_factory=Counter)
    wall_s: float = 0.0
    service_cpu_s: float = 0.0

    def add(self, other: Timings) -> None:
        self.ms += other.ms
        self.failures += other.failures
        self.wall_s += other.wall_s
        self.service_cpu_s += other.service_cpu_s

    @property
    def errors(self) -> int:
        return self.failures.total()

    @property
    def service_cpu_ms(self) -> float:
        """The service's CPU time per request on this path."""
        requests = len(self.ms) + self.errors
        return 1000.0 * self.service_cpu_s / requests if requests else float("nan")

    @property
    def rate(self) -> float:
        """Requests per second while this path was running."""
        return (len(self.ms) + self.errors) / self.wall_s if self.wall_s else float("nan")

    def percentile(self, q: float) -> float:
        return float(np.percentile(self.ms, q)) if self.ms else float("nan")


@dataclass(frozen=True)
class Caller:
    name: str
    send: Send


async def measure(
    args: argparse.Namespace, upstream_url: str, services: dict[str, tuple[str, int]]
) -> tuple[dict[int, dict[str, Timings]], dict[str, float]]:
    """Timings per concurrency and path, and each service's mean decision time (ms); ``services``
    maps each encoder to its service's URL and process id."""
    numbers = count()
    limits = httpx.Limits(
        max_connections=args.concurrency, max_keepalive_connections=args.concurrency
    )

    def client(base: str) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=base, limits=limits, timeout=60.0)

    clients = {encoder: client(url) for encoder, (url, _) in services.items()}
    async with client(upstream_url) as direct:
        paths = [Caller("direct", _chat_call(direct, UPSTREAM_MODEL, "/chat/completions", numbers))]
        for encoder, http in clients.items():
            paths.append(
                Caller(
                    f"service[{encoder}]", _chat_call(http, "auto", "/v1/chat/completions", numbers)
                )
            )
            paths.append(Caller(f"route[{encoder}]", _route_call(http, numbers)))
        paths.append(Caller("litellm", _litellm_call(upstream_url, numbers)))
        pids = [pid for _, pid in services.values()]
        try:
            for path in paths:
                await _run(path, WARMUP, 1)
            results: dict[int, dict[str, Timings]] = {}
            for concurrency, total in ((1, args.requests_c1), (args.concurrency, args.requests_cn)):
                results[concurrency] = await _interleaved(
                    paths, total, concurrency, lambda: sum(_cpu_s(pid) for pid in pids)
                )
            decision_means = {e: await _decision_mean_ms(h) for e, h in clients.items()}
        finally:
            for http in clients.values():
                await http.aclose()
    return results, decision_means


def _chat_call(http: httpx.AsyncClient, model: str, url: str, numbers: count[int]) -> Send:
    async def send() -> str | None:
        messages = [{"role": "user", "content": PROMPT.format(i=next(numbers))}]
        return _failure(await http.post(url, json={"model": model, "messages": messages}))

    return send


def _route_call(http: httpx.AsyncClient, numbers: count[int]) -> Send:
    async def send() -> str | None:
        return _failure(await http.post("/v1/route", json={"text": PROMPT.format(i=next(numbers))}))

    return send


def _litellm_call(upstream_url: str, numbers: count[int]) -> Send:
    """The service's own upstream call (``router.upstream.client.Upstream``: the litellm
    Router), made from this process with no HTTP server and no decision in front: the floor
    under any litellm-based service's added latency."""
    from records import Budget
    from router.errors import RouterError
    from router.upstream.client import Upstream
    from router.upstream.targets import UpstreamTarget

    target = UpstreamTarget(
        model=f"openai/{UPSTREAM_MODEL}",
        budget=Budget(max_tokens=256),
        api_base=upstream_url,
        price=BENCH_PRICE,
    )
    upstream = Upstream([target])

    async def send() -> str | None:
        messages = [{"role": "user", "content": PROMPT.format(i=next(numbers))}]
        try:
            await upstream.complete(target, messages)
        except RouterError as exc:
            return type(exc).__name__
        return None

    return send


def _failure(response: httpx.Response) -> str | None:
    return None if response.status_code == 200 else f"HTTP {response.status_code}"


async def _interleaved(
    paths: list[Caller], total: int, concurrency: int, service_cpu: Callable[[], float]
) -> dict[str, Timings]:
    """``total`` requests per path in rounds, the paths' order rotating every round."""
    timings = {path.name: Timings() for path in paths}
    size = 1 if concurrency == 1 else min(ROUND, total)
    done = 0
    for round_number in range(-(-total // size)):
        batch = min(size, total - done)
        shift = round_number % len(paths)
        for path in paths[shift:] + paths[:shift]:
            cpu_before = service_cpu()
            batch_timings = await _run(path, batch, concurrency)
            batch_timings.service_cpu_s = service_cpu() - cpu_before
            timings[path.name].add(batch_timings)
        done += batch
    return timings


def _cpu_s(pid: int) -> float:
    """The CPU time the threads of process ``pid`` have had so far (ns precision); nan off Linux."""
    tasks = Path(f"/proc/{pid}/task")
    if not tasks.is_dir():
        return float("nan")
    total_ns = 0
    for task in tasks.iterdir():
        try:
            total_ns += int((task / "schedstat").read_text().split()[0])
        except (OSError, ValueError, IndexError):  # a thread that ended meanwhile
            continue
    return total_ns / 1e9


async def _run(path: Caller, total: int, concurrency: int) -> Timings:
    timings = Timings()
    queue = iter(range(total))

    async def worker() -> None:
        for _ in queue:
            started = time.perf_counter()
            try:
                failure = await path.send()
            except httpx.HTTPError as exc:
                failure = type(exc).__name__
            if failure is None:
                timings.ms.append((time.perf_counter() - started) * 1000.0)
            else:
                timings.failures[failure] += 1

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(min(concurrency, total))))
    timings.wall_s = time.perf_counter() - started
    return timings


async def _decision_mean_ms(service: httpx.AsyncClient) -> float:
    """Mean server-side decision time, from the service's own histogram."""
    text = (await service.get("/metrics")).text
    values = {
        line.split(" ")[0]: float(line.split(" ")[1])
        for line in text.splitlines()
        if line.startswith("router_decision_seconds_")
    }
    total, number = (
        values.get("router_decision_seconds_sum", 0.0),
        values.get("router_decision_seconds_count", 0.0),
    )
    return 1000.0 * total / number if number else float("nan")
