"""Service overhead: the same chat request sent to the upstream directly and through the router.

    .venv/bin/python -m bench.service_overhead [--requests-c1 300] [--requests-cn 2000]
        [--concurrency 64] [--encoder real|hashing]

Three processes on loopback: the scripted test upstream (tests/upstream_server.py), the service
(``create_app`` under uvicorn, every tier pointing at that upstream), and this client. Three paths
are timed side by side, interleaved so that drift and neighbours' load fall on all alike:

    direct    POST upstream /v1/chat/completions
    service   POST router   /v1/chat/completions   (model "auto": decide, call, answer)
    route     POST router   /v1/route              (the decision alone, no upstream call)
    litellm   the service's upstream call (router.upstream.client.Upstream, the litellm Router) made
              from the bench process: no HTTP server, no decision, just litellm

first one request at a time, then ``--concurrency`` at once. Every prompt is distinct, so the
encoder cache hides nothing. The classifier is the shipped one when models/CURRENT exists;
otherwise a stand-in Ridge (random fit) over the real encoder, and the header says so. The
target printed at the end: the p50 the service adds over the direct call should stay within the
decision's own p50 plus 2 ms. Prints figures and asserts nothing.

Latency on a shared machine swings by a millisecond or more from run to run, so the table also
gives the service's own CPU time per request on each path (the sum over its threads, from Linux's
schedstat; "nan" elsewhere): ``service`` minus ``route`` is the CPU a chat request spends beyond
its decision, a figure neighbours' load moves far less. Work the service does after answering
(litellm's logging) is counted on whichever path runs next; the ``direct`` row, where the service
has nothing else to do, shows how much that is.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import socket
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from itertools import count
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import yaml

from records import Price

PROJECT_ROOT = Path(__file__).resolve().parent.parent
PROMPT = "Case {i}: explain briefly why the sky looks blue at noon but red at sunset."
UPSTREAM_MODEL = "bench-model"
BENCH_PRICE = Price(input_per_mtok=0.15, output_per_mtok=0.6)
WARMUP = 20
ROUND = 250
READY_TIMEOUT_S = 120.0

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


def main(argv: Sequence[str] | None = None) -> int:
    args = _arguments(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    context = multiprocessing.get_context("spawn")
    with tempfile.TemporaryDirectory(prefix="router-bench-") as scratch:
        models_dir, classifier = _classifier(Path(scratch), args.encoder)
        upstream, upstream_url = _start(context, _run_upstream, ())
        policy_path = _write_policy(Path(scratch), upstream_url)
        if args.torch_threads is not None:
            os.environ["ROUTER_ENCODER_THREADS"] = str(args.torch_threads)  # the child inherits
        service_args = (str(models_dir), str(policy_path), args.encoder)
        service, service_url = _start(context, _run_service, service_args)
        try:
            _wait_ready(service_url)
            print(_header(args, classifier, upstream_url, service_url))
            asyncio.run(_measure(args, upstream_url, service_url, service.pid))
        finally:
            for process in (service, upstream):
                process.terminate()
                process.join(10)
    return 0


def _arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Latency the router adds to an upstream call.")
    parser.add_argument("--requests-c1", type=int, default=300, help="per path, one at a time")
    parser.add_argument("--requests-cn", type=int, default=2000, help="per path, concurrently")
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument(
        "--torch-threads",
        type=int,
        default=None,
        help="the service's torch threads; default: the settings' (ROUTER_ENCODER_THREADS)",
    )
    parser.add_argument(
        "--encoder",
        choices=("real", "hashing"),
        default="real",
        help="real: the packaged MiniLM; hashing: the test stand-in (no model at all)",
    )
    return parser.parse_args(argv)


# --- the classifier and the policy ---------------------------------------------------------


def _classifier(scratch: Path, encoder: str) -> tuple[Path, str]:
    """The models directory to serve from, and what it holds."""
    from router.settings import SHIPPED_MODELS_DIR

    if encoder == "real" and (SHIPPED_MODELS_DIR / "CURRENT").is_file():
        current = (SHIPPED_MODELS_DIR / "CURRENT").read_text(encoding="utf-8").strip()
        return SHIPPED_MODELS_DIR, f"shipped model {current} from {SHIPPED_MODELS_DIR}"
    models_dir = scratch / "models"
    _publish_stand_in(models_dir, encoder)
    why = "no models/CURRENT" if encoder == "real" else "--encoder hashing"
    return models_dir, f"STAND-IN Ridge fitted on random rows ({why}), over the {encoder} encoder"


def _publish_stand_in(models_dir: Path, encoder: str) -> None:
    from sklearn.linear_model import Ridge

    from classifiers.artifacts.store import save_artifact
    from classifiers.artifacts.versions import write_current
    from classifiers.encoder import HashingEncoder
    from classifiers.packaged_model import MODEL_NAME

    dimension = 384  # all-MiniLM-L6-v2, and the HashingEncoder's default
    name = MODEL_NAME if encoder == "real" else HashingEncoder(dimension).name
    rng = np.random.default_rng(0)
    rows = rng.normal(size=(256, dimension))
    estimator = Ridge(alpha=1.0).fit(rows, rng.uniform(size=256))
    save_artifact(
        models_dir,
        "bench-stand-in",
        estimator,
        encoder_name=name,
        encoder_dimension=dimension,
        feature_names=[],
        training_data={"rows": 256, "source": "random"},
        metrics={},
    )
    write_current(models_dir, "bench-stand-in")


def _write_policy(scratch: Path, upstream_url: str) -> Path:
    """Two tiers, both answered by the bench upstream, no thinking: the overhead alone.

    The model is priced, as every model a service pays for is (by litellm's list or the
    policy): litellm's search for the price of a model it does not know costs ~3 ms of CPU a
    call, which would be a cost of the bench's made-up model name, not of the router."""

    def tier(name: str, band: list[float]) -> dict[str, Any]:
        return {
            "name": name,
            "band": band,
            "model": f"openai/{UPSTREAM_MODEL}",
            "api_base": upstream_url,
            "budget": {"max_tokens": 256},
            "timeout_s": 30,
            "price": BENCH_PRICE.model_dump(),
        }

    policy = {"version": "bench-1", "tiers": [tier("low", [0.0, 0.5]), tier("high", [0.5, 1.0])]}
    path = scratch / "policy.yaml"
    path.write_text(yaml.safe_dump(policy), encoding="utf-8")
    return path


# --- the two servers -----------------------------------------------------------------------


def _start(context: Any, target: Callable[..., None], args: tuple[str, ...]) -> tuple[Any, str]:
    """Start ``target`` in a child process; it sends back the URL it serves on."""
    parent, child = context.Pipe()
    process = context.Process(target=target, args=(child, *args), daemon=True)
    process.start()
    if not parent.poll(READY_TIMEOUT_S):
        process.terminate()
        raise RuntimeError(f"{target.__name__} did not start")
    return process, str(parent.recv())


def _loopback_socket() -> socket.socket:
    """A bound loopback socket for the service that asyncio will give TCP_NODELAY: it does so only
    for sockets whose proto is IPPROTO_TCP, and without it Nagle and delayed ACKs add ~40 ms per
    response (the test upstream binds its socket the same way)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


def _run_upstream(conn: Connection) -> None:
    sys.path.insert(0, str(PROJECT_ROOT))  # tests/ is not installed; run from anywhere
    from tests.upstream_server import running_upstream

    with running_upstream() as server:
        conn.send(server.url)
        while True:
            time.sleep(3600)


def _run_service(conn: Connection, models_dir: str, policy_path: str, encoder: str) -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    import uvicorn

    from classifiers.encoder import HashingEncoder
    from router.service.app import create_app
    from router.service.model_store import load_encoder
    from router.settings import Settings

    settings = Settings(models_dir=Path(models_dir), policy_path=Path(policy_path))
    loader = load_encoder if encoder == "real" else (lambda _: HashingEncoder(384))
    app = create_app(settings, encoder_loader=loader)
    sock = _loopback_socket()
    conn.send(f"http://127.0.0.1:{sock.getsockname()[1]}")
    config = uvicorn.Config(
        app,
        log_level="warning",
        access_log=False,
        ws="none",
        timeout_keep_alive=settings.keep_alive_s,
    )
    uvicorn.Server(config).run(sockets=[sock])


def _wait_ready(service_url: str) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        try:
            response = httpx.get(f"{service_url}/readyz", timeout=2.0)
        except httpx.TransportError:
            response = None
        if response is not None and response.status_code == 200:
            return
        if response is not None and response.status_code == 503 and "problem" in response.text:
            problem = response.json().get("problem")
            if problem and problem != "not loaded yet":
                raise RuntimeError(f"the service is not ready: {problem}")
        time.sleep(0.2)
    raise RuntimeError("the service did not become ready")


# --- measuring -----------------------------------------------------------------------------


async def _measure(
    args: argparse.Namespace, upstream_url: str, service_url: str, service_pid: int
) -> None:
    numbers = count()
    limits = httpx.Limits(
        max_connections=args.concurrency, max_keepalive_connections=args.concurrency
    )

    def client(base: str) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=base, limits=limits, timeout=60.0)

    async with client(upstream_url) as direct, client(service_url) as service:
        paths = [
            Caller("direct", _chat_call(direct, UPSTREAM_MODEL, "/chat/completions", numbers)),
            Caller("service", _chat_call(service, "auto", "/v1/chat/completions", numbers)),
            Caller("route", _route_call(service, numbers)),
            Caller("litellm", _litellm_call(upstream_url, numbers)),
        ]
        for path in paths:
            await _run(path, WARMUP, 1)
        results = {}
        for concurrency, total in ((1, args.requests_c1), (args.concurrency, args.requests_cn)):
            results[concurrency] = await _interleaved(
                paths, total, concurrency, lambda: _cpu_s(service_pid)
            )
        decision_mean = await _decision_mean_ms(service)
    _print_table(results)
    _print_verdict(results, decision_mean)


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


# --- printing ------------------------------------------------------------------------------


def _header(args: argparse.Namespace, classifier: str, upstream: str, service: str) -> str:
    return "\n".join(
        [
            "difficulty-router: latency the service adds to an upstream call",
            f"  classifier  {classifier}",
            f"  upstream    {upstream} (scripted test server, answers at once)",
            f"  service     {service} (create_app under uvicorn, own process,"
            f" torch threads {args.torch_threads or 'per settings'})",
            f"  requests    {args.requests_c1} per path at c=1, {args.requests_cn} per path at"
            f" c={args.concurrency}, interleaved; {os.cpu_count()} cores,"
            f" load {os.getloadavg()[0]:.2f}",
        ]
    )


def _print_table(results: dict[int, dict[str, Timings]]) -> None:
    print(
        f"\n{'path':<9}{'conc':>6}{'ok':>7}{'errors':>8}{'p50 ms':>9}{'p99 ms':>9}{'req/s':>8}"
        f"{'svc cpu ms/req':>16}"
    )
    for concurrency, timings in results.items():
        for name, timing in timings.items():
            print(
                f"{name:<9}{concurrency:>6}{len(timing.ms):>7}{timing.errors:>8}"
                f"{timing.percentile(50):>9.2f}{timing.percentile(99):>9.2f}{timing.rate:>8.0f}"
                f"{timing.service_cpu_ms:>16.2f}"
            )
    for concurrency, timings in results.items():
        for name, timing in timings.items():
            if timing.failures:
                said = ", ".join(f"{n}x {kind}" for kind, n in timing.failures.most_common())
                print(f"errors   {name} at c={concurrency}: {said}")


def _print_verdict(results: dict[int, dict[str, Timings]], decision_mean: float) -> None:
    print(f"\nserver-side decision time (mean, all requests): {decision_mean:.2f} ms")
    for concurrency, timings in results.items():
        added = added_p50(timings)
        budget = timings["route"].percentile(50) + 2.0
        verdict = "within" if added <= budget else "OVER"
        print(
            f"c={concurrency:<3} added p50 (service - direct) {added:7.2f} ms"
            f"  vs decision p50 (route) + 2 ms {budget:7.2f} ms: {verdict}"
        )
    for concurrency, timings in results.items():
        beyond = timings["service"].service_cpu_ms - timings["route"].service_cpu_ms
        print(
            f"c={concurrency:<3} service CPU per chat request beyond a route one {beyond:6.2f} ms"
        )
    for concurrency, timings in results.items():
        floor = timings["litellm"].percentile(50) - timings["direct"].percentile(50)
        beyond = added_p50(timings) - timings["route"].percentile(50)
        print(
            f"c={concurrency:<3} the litellm call alone adds {floor:7.2f} ms p50 over direct;"
            f" the service adds {beyond:7.2f} ms beyond its decision (the target allows 2 ms)"
        )


def added_p50(timings: dict[str, Timings]) -> float:
    return timings["service"].percentile(50) - timings["direct"].percentile(50)


if __name__ == "__main__":
    sys.exit(main())
