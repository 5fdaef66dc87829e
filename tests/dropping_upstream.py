"""An OpenAI-compatible upstream on a bare socket that drops its first requests unanswered.

``POST /v1/chat/completions`` only: each of the first ``drops`` requests is read whole, then its
connection is closed without a byte of answer (what a client sees when it sends on a pooled
connection the server has just closed); every later one is answered ``ANSWER``, streamed if it
asked for a stream. It runs in a thread, so sync and async tests can both use it.

    with dropping_upstream(drops=1) as upstream:
        ...  # point a target's api_base at upstream.url
        assert upstream.received == 2
"""

from __future__ import annotations

import json
import re
import socketserver
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

ANSWER = "42"


@dataclass
class DroppingUpstream:
    drops: int
    url: str = ""
    _received: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def received(self) -> int:
        """Requests read so far, the dropped ones included."""
        with self._lock:
            return self._received

    def _count(self) -> int:
        with self._lock:
            self._received += 1
            return self._received


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, upstream: DroppingUpstream) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.upstream = upstream


class _Handler(socketserver.StreamRequestHandler):
    server: _Server

    def handle(self) -> None:
        head = b""
        while not head.endswith(b"\r\n\r\n"):
            line = self.rfile.readline()
            if not line:
                return
            head += line
        length = re.search(rb"content-length: *(\d+)", head, re.IGNORECASE)
        assert length is not None, head
        body = json.loads(self.rfile.read(int(length.group(1))))
        if self.server.upstream._count() <= self.server.upstream.drops:
            return  # the connection closes unanswered
        stream = bool(body.get("stream"))
        payload = _events(body["model"]) if stream else json.dumps(_answer(body["model"]))
        kind = "text/event-stream" if stream else "application/json"
        self.wfile.write(
            f"HTTP/1.1 200 OK\r\nContent-Type: {kind}\r\nContent-Length: {len(payload)}\r\n"
            f"Connection: close\r\n\r\n{payload}".encode()
        )


def _answer(model: str) -> dict[str, Any]:
    message = {"role": "assistant", "content": ANSWER}
    return {
        "id": "chatcmpl-dropping",
        "object": "chat.completion",
        "created": 0,
        "model": model,
        "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 5, "completion_tokens": 1, "total_tokens": 6},
    }


def _events(model: str) -> str:
    def chunk(delta: dict[str, Any], finish: str | None) -> str:
        choice = {"index": 0, "delta": delta, "finish_reason": finish}
        data = {"id": "c", "object": "chat.completion.chunk", "created": 0, "model": model}
        return f"data: {json.dumps({**data, 'choices': [choice]})}\n\n"

    answer = chunk({"role": "assistant", "content": ANSWER}, None)
    return answer + chunk({}, "stop") + "data: [DONE]\n\n"


@contextmanager
def dropping_upstream(drops: int) -> Iterator[DroppingUpstream]:
    """A ``DroppingUpstream`` serving on a free loopback port for the duration of the block."""
    upstream = DroppingUpstream(drops)
    server = _Server(upstream)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        upstream.url = f"http://127.0.0.1:{server.server_address[1]}/v1"
        yield upstream
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5.0)
