"""A real ``redis-server`` of the test's own, on a free port; load with ``pytest_plugins``.

    def test_something(redis_server: RedisServer) -> None:
        store = RedisStore.from_url(redis_server.url)
        redis_server.kill()        # SIGKILL, as a crash would
        redis_server.start()       # the same port and directory: the append-only file reloads

The server keeps no RDB snapshots (``--save ""``) and an append-only file (``appendonly yes``,
``appendfsync always``) in the test's temporary directory, the configuration the README
recommends, so a restart after SIGKILL finds every write Redis acknowledged (with ``everysec``
Redis may answer up to 2 s before writing the file when the disk is slow, and a SIGKILL then
loses acknowledged writes: seen once on a loaded machine as one record missing of 2,000). Never
the shared Redis on 6379.
"""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

START_TIMEOUT_S = 10.0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class RedisServer:
    """One ``redis-server`` process that a test may kill and start again on the same port."""

    def __init__(self, directory: Path, port: int | None = None) -> None:
        self.directory = directory
        self.port = port or free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        """Start the server and wait until it answers PING (with its data loaded)."""
        executable = shutil.which("redis-server")
        if executable is None:
            pytest.fail("redis-server is not on the PATH; the tests need it (apt install redis)")
        self.process = subprocess.Popen(
            [
                executable,
                "--port", str(self.port),
                "--bind", "127.0.0.1",
                "--save", "",
                "--appendonly", "yes",
                "--appendfsync", "always",
                "--dir", str(self.directory),
                "--maxmemory-policy", "noeviction",
                "--loglevel", "warning",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        self._wait_for_ping()

    def kill(self) -> None:
        """SIGKILL: no shutdown, no last write; as a crash or the OOM killer would."""
        self._stop(signal.SIGKILL)

    def stop(self) -> None:
        self._stop(signal.SIGTERM)

    def client(self) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=5.0)

    def _stop(self, sig: signal.Signals) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(sig)
            self.process.wait(10.0)
        self.process = None

    def _wait_for_ping(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        with self.client() as client:
            while True:
                try:
                    if client.ping():
                        return
                except redis.ConnectionError:  # not listening yet, or still loading
                    pass
                if self.process is not None and self.process.poll() is not None:
                    pytest.fail(f"redis-server on port {self.port} exited at start")
                if time.monotonic() > deadline:
                    pytest.fail(f"redis-server on port {self.port} did not answer PING")
                time.sleep(0.02)


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    """A fresh ``redis-server`` on a free port, killed after the test."""
    directory = tmp_path / "redis"
    directory.mkdir()
    server = RedisServer(directory)
    server.start()
    try:
        yield server
    finally:
        server.kill()
