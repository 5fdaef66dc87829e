"""Serve an ASGI app with a real uvicorn on a free loopback port, in a thread (tests, benches)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn
from starlette.types import ASGIApp

from router.settings import Settings

START_TIMEOUT_S = 30.0  # returns as soon as it has started; the margin is for a loaded machine
# As `router serve` runs: uvicorn's own 5 s default races clients' 5 s pool expiry, and a test
# that met that race would be testing the harness, not the service.
KEEP_ALIVE_S = Settings.model_fields["keep_alive_s"].default


@contextmanager
def serving(app: ASGIApp, *, log_level: str = "warning") -> Iterator[str]:
    """The app's base URL (``http://127.0.0.1:<port>``) while the block runs; lifespan included."""
    # IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY only on sockets whose proto says TCP, and
    # without it Nagle's algorithm and delayed ACKs add ~40 ms to every response.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(
        app,
        log_level=log_level,
        lifespan="on",
        ws="none",
        timeout_graceful_shutdown=2,
        timeout_keep_alive=KEEP_ALIVE_S,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while not server.started:
            if time.monotonic() > deadline or not thread.is_alive():
                raise RuntimeError("the service did not start")
            time.sleep(0.005)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=10.0)
        sock.close()
