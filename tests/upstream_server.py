"""A real upstream on 127.0.0.1 for tests, speaking OpenAI's API and scripted per model name.

Routes: ``POST /v1/chat/completions`` (OpenAI and any OpenAI-compatible server, SSE streaming
included), ``POST /v1/messages`` (Anthropic) and ``POST /v1/models/{model}:generateContent``
(Gemini), so a test can point litellm at it for any of those providers and read the body litellm
sent. Point OpenAI-style and Gemini targets at ``.url`` and Anthropic ones at ``.root_url``.

Each model name follows a ``Script`` (unscripted models answer ``"ok"``): fail the first calls
with given status codes (with a retry-after), wait before answering, hang until the client gives
up, stream slowly, report reasoning tokens, answer from a list (one entry per answered call) or
from a function of the request body (``reply``, for outcomes that depend on the prompt). The
server records every request (path, headers, JSON body) and every stream or hang the client
abandoned, so tests assert on what litellm actually sent and on what a cancellation did.

    with running_upstream() as upstream:
        upstream.script("flaky", failures=[429], answers=["42"])
        ...  # call upstream.url with model "flaky"
        assert upstream.requests_for("flaky")[0].body["max_tokens"] == 4096
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

HANG_S = 30.0
PROMPT_TOKENS = 11
START_TIMEOUT_S = 30.0  # returns as soon as it has started; the margin is for a loaded machine


@dataclass
class Script:
    """How the server treats calls for one model name, in call order."""

    answers: Sequence[str] = ("ok",)
    failures: Sequence[int] = ()
    error_message: str = "scripted failure"
    retry_after_s: float | None = None
    delays_s: Sequence[float] = ()
    hang: bool = False
    chunk_delay_s: float = 0.0
    reasoning_tokens: int = 0
    empty: bool = False
    """Answer HTTP 200 with ``"choices": []`` (a stream: only ``[DONE]``)."""
    break_after: int | None = None
    """Streams drop the connection after this many content chunks."""
    reasoning: Callable[[dict[str, Any]], int] | None = None
    """Reasoning tokens worked out from each request's JSON body (replaces reasoning_tokens):
    for a model whose thinking depends on the prompt or on the budget it is sent."""
    reply: Callable[[dict[str, Any]], str] | None = None  # answer from the request body

    def delay_s(self, call: int) -> float:
        """How long call number ``call`` waits before answering."""
        if self.hang:
            return HANG_S
        return self.delays_s[call] if call < len(self.delays_s) else 0.0


@dataclass(frozen=True)
class RecordedRequest:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]
    client_port: int | None = None
    """The port the request came from: a new one means a new connection."""

    @property
    def model(self) -> str:
        return str(self.body.get("model", ""))


@dataclass(frozen=True)
class _Call:
    """What one call gets: its number for this model, a status to fail with, or an answer."""

    script: Script
    number: int
    status: int | None
    answer: str


@dataclass
class _ModelState:
    script: Script
    calls: int = 0
    answered: int = 0


@dataclass
class UpstreamServer:
    """State shared between the server thread and the test; every access holds ``_lock``."""

    url: str = ""
    _scripts: dict[str, _ModelState] = field(default_factory=dict)
    _requests: list[RecordedRequest] = field(default_factory=list)
    _abandoned: list[str] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def root_url(self) -> str:
        """The server without ``/v1``: the api_base litellm wants for Anthropic."""
        return self.url.removesuffix("/v1")

    def script(self, model: str, **behaviour: Any) -> None:
        """Treat calls for ``model`` as ``Script(**behaviour)`` says, from now on."""
        with self._lock:
            self._scripts[model] = _ModelState(Script(**behaviour))

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    def requests_for(self, model: str) -> list[RecordedRequest]:
        return [request for request in self.requests if request.model == model]

    @property
    def abandoned(self) -> list[str]:
        """Model names of the streams and hung calls the client disconnected from."""
        with self._lock:
            return list(self._abandoned)

    async def wait_for_abandoned(self, count: int = 1, timeout_s: float = 2.0) -> list[str]:
        """``abandoned`` once it holds ``count`` names, or after ``timeout_s``; the test's event
        loop keeps running meanwhile, so the client can finish closing its connections."""
        deadline = time.monotonic() + timeout_s
        while len(self.abandoned) < count and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        return self.abandoned

    def _record(self, request: RecordedRequest) -> None:
        with self._lock:
            self._requests.append(request)

    def _record_abandoned(self, model: str) -> None:
        with self._lock:
            self._abandoned.append(model)

    def _next_call(self, model: str) -> _Call:
        with self._lock:
            state = self._scripts.setdefault(model, _ModelState(Script()))
            number = state.calls
            state.calls += 1
            script = state.script
            if number < len(script.failures):
                return _Call(script, number, script.failures[number], "")
            answer = script.answers[min(state.answered, len(script.answers) - 1)]
            state.answered += 1
            return _Call(script, number, None, answer)


def _usage(answer: str, script: Script) -> dict[str, Any]:
    completion = len(answer.split()) + script.reasoning_tokens
    return {
        "prompt_tokens": PROMPT_TOKENS,
        "completion_tokens": completion,
        "total_tokens": PROMPT_TOKENS + completion,
        "completion_tokens_details": {"reasoning_tokens": script.reasoning_tokens},
    }


def _completion(model: str, answer: str, script: Script) -> dict[str, Any]:
    """An OpenAI chat completion."""
    return {
        "id": "chatcmpl-test",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": []
        if script.empty
        else [
            {
                "index": 0,
                "message": {"role": "assistant", "content": answer},
                "finish_reason": "stop",
            }
        ],
        "usage": _usage(answer, script),
    }


def _anthropic_message(model: str, answer: str, script: Script) -> dict[str, Any]:
    """An Anthropic Messages API reply, with a thinking block."""
    output_tokens = len(answer.split()) + script.reasoning_tokens
    return {
        "id": "msg_test",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [
            {"type": "thinking", "thinking": "hmm", "signature": "sig"},
            {"type": "text", "text": answer},
        ],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": PROMPT_TOKENS, "output_tokens": output_tokens},
    }


def _gemini_content(model: str, answer: str, script: Script) -> dict[str, Any]:
    """A Gemini generateContent reply."""
    answer_tokens = len(answer.split())
    return {
        "candidates": [
            {
                "content": {"role": "model", "parts": [{"text": answer}]},
                "finishReason": "STOP",
                "index": 0,
            }
        ],
        "usageMetadata": {
            "promptTokenCount": PROMPT_TOKENS,
            "candidatesTokenCount": answer_tokens,
            "thoughtsTokenCount": script.reasoning_tokens,
            "totalTokenCount": PROMPT_TOKENS + answer_tokens + script.reasoning_tokens,
        },
        "modelVersion": model,
    }


def _chunk(model: str, delta: dict[str, Any], finish_reason: str | None) -> dict[str, Any]:
    return {
        "id": "chatcmpl-test",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}],
    }


def _sse(payload: dict[str, Any] | str) -> str:
    data = payload if isinstance(payload, str) else json.dumps(payload)
    return f"data: {data}\n\n"


class StreamCut(Exception):
    """Raised in a scripted stream to drop the connection mid-answer."""


async def _events(model: str, answer: str, script: Script, usage: bool) -> AsyncIterator[str]:
    if script.empty:
        yield _sse("[DONE]")
        return
    yield _sse(_chunk(model, {"role": "assistant", "content": ""}, None))
    for number, word in enumerate(answer.split(" ")):
        if script.break_after is not None and number >= script.break_after:
            raise StreamCut(f"{model}: stream cut after {number} chunks, as scripted")
        await asyncio.sleep(script.chunk_delay_s)
        yield _sse(_chunk(model, {"content": word + " "}, None))
    yield _sse(_chunk(model, {}, "stop"))
    if usage:
        final = _chunk(model, {}, None) | {"choices": [], "usage": _usage(answer, script)}
        yield _sse(final)
    yield _sse("[DONE]")


def _stream(
    server: UpstreamServer, model: str, answer: str, script: Script, usage: bool
) -> StreamingResponse:
    async def body() -> AsyncIterator[str]:
        finished = False
        try:
            async for event in _events(model, answer, script, usage):
                yield event
            finished = True
        finally:
            if not finished:
                server._record_abandoned(model)

    return StreamingResponse(body(), media_type="text/event-stream")


def _failure(status: int, script: Script) -> JSONResponse:
    headers = {}
    if script.retry_after_s is not None:
        headers["retry-after"] = str(max(1, round(script.retry_after_s)))
    body = {"error": {"message": f"{script.error_message} {status}", "type": "server_error"}}
    return JSONResponse(body, status_code=status, headers=headers)


async def _client_left(request: Request, wait_s: float) -> bool:
    """Wait ``wait_s``; True as soon as the client disconnects."""
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        if await request.is_disconnected():
            return True
        await asyncio.sleep(0.01)
    return False


Reply = Callable[[str, str, Script], dict[str, Any]]


def _endpoint(server: UpstreamServer, reply: Reply) -> Callable[[Request], Awaitable[Response]]:
    """A route that records the request, then fails, hangs, streams or replies per the script."""

    async def handle(request: Request) -> Response:
        body = await request.json()
        port = request.client.port if request.client is not None else None
        server._record(RecordedRequest(request.url.path, dict(request.headers), body, port))
        model = str(request.path_params.get("model") or body.get("model", ""))
        call = server._next_call(model)
        if call.status is not None:
            return _failure(call.status, call.script)
        if call.script.reasoning is not None:
            thought = call.script.reasoning(body)
            call = replace(call, script=replace(call.script, reasoning_tokens=thought))
        if await _client_left(request, call.script.delay_s(call.number)):
            server._record_abandoned(model)
            return Response(status_code=499)
        answer = call.answer if call.script.reply is None else call.script.reply(body)
        if body.get("stream"):
            usage = bool((body.get("stream_options") or {}).get("include_usage"))
            return _stream(server, model, answer, call.script, usage)
        return JSONResponse(reply(model, answer, call.script))

    return handle


def _app(server: UpstreamServer) -> Starlette:
    return Starlette(
        routes=[
            Route("/v1/chat/completions", _endpoint(server, _completion), methods=["POST"]),
            Route("/v1/messages", _endpoint(server, _anthropic_message), methods=["POST"]),
            Route(
                "/v1/models/{model}:generateContent",
                _endpoint(server, _gemini_content),
                methods=["POST"],
            ),
        ]
    )


def _bound_socket() -> socket.socket:
    """A loopback socket asyncio will give TCP_NODELAY: it does so only for sockets whose proto
    is IPPROTO_TCP, and without it Nagle and delayed ACKs hold each answer back ~40 ms."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


@contextmanager
def running_upstream() -> Iterator[UpstreamServer]:
    """Serve a fresh ``UpstreamServer`` on a free port for the duration of the block."""
    state = UpstreamServer()
    sock = _bound_socket()
    config = uvicorn.Config(
        _app(state), log_level="warning", lifespan="off", ws="none", timeout_graceful_shutdown=1
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while not server.started:
            if time.monotonic() > deadline or not thread.is_alive():
                raise RuntimeError("the test upstream did not start")
            time.sleep(0.005)
        state.url = f"http://127.0.0.1:{sock.getsockname()[1]}/v1"
        yield state
    finally:
        server.should_exit = True
        server.force_exit = True
        thread.join(timeout=5.0)
        sock.close()
