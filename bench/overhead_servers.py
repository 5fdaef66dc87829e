"""The service overhead bench's processes: the scripted upstream and one service per encoder.

process, url = start(context, run_upstream, ())
process, url = start(context, run_service, (models_dir, policy_path, encoder))
wait_ready(url)
"""

from __future__ import annotations

import os
import socket
import sys
import time
from collections.abc import Callable
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, Literal

import httpx

PROJECT_ROOT = Path(__file__).resolve().parent.parent
READY_TIMEOUT_S = 120.0


def start(context: Any, target: Callable[..., None], args: tuple[str, ...]) -> tuple[Any, str]:
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


def run_upstream(conn: Connection) -> None:
    sys.path.insert(0, str(PROJECT_ROOT))  # tests/ is not installed; run from anywhere
    from tests.upstream_server import running_upstream

    with running_upstream() as server:
        conn.send(server.url)
        while True:
            time.sleep(3600)


def run_service(conn: Connection, models_dir: str, policy_path: str, encoder: str) -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    import uvicorn

    from classifiers.encoder import HashingEncoder
    from router.service.app import create_app
    from router.service.model_store import load_encoder
    from router.settings import Settings

    kind: Literal["auto", "onnx", "torch"] = (
        "onnx" if encoder == "onnx" else "torch" if encoder == "torch" else "auto"
    )
    settings = Settings(models_dir=Path(models_dir), policy_path=Path(policy_path), encoder=kind)
    loader = load_encoder if encoder != "hashing" else (lambda _: HashingEncoder(384))
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


def wait_ready(service_url: str) -> None:
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
