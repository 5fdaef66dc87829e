"""The SSE response of a streamed chat completion.

``EventStreamResponse`` always closes its events, so a client that disconnects cancels the
upstream call at once rather than when the generator is collected. Given ``stopping`` (the
app's ``Shutdown.stopping``), a stream still open when it is set ends with one error event
(``ServiceShuttingDownError``) instead of being cut by the server.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncGenerator
from typing import Any

import anyio
from starlette.responses import JSONResponse, StreamingResponse
from starlette.types import Message, Receive, Scope, Send

from router.errors import ServiceShuttingDownError, error_body

__all__ = ["SHUTTING_DOWN", "EventStreamResponse", "event"]

SHUTTING_DOWN = ServiceShuttingDownError(
    "the service is shutting down and this stream outlived its drain time; retry the request"
)


def event(payload: dict[str, Any]) -> str:
    return f"data: {json.dumps(payload, separators=(',', ':'))}\n\n"


class EventStreamResponse(StreamingResponse):
    media_type = "text/event-stream"

    def __init__(
        self, events: AsyncGenerator[str, None], stopping: asyncio.Event | None = None
    ) -> None:
        super().__init__(events, headers={"cache-control": "no-cache"})
        self.events = events
        self.stopping = stopping

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = stopped = False

        async def noted(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        async def respond() -> None:
            await super(EventStreamResponse, self).__call__(scope, receive, noted)
            group.cancel_scope.cancel()

        async def stop(stopping: asyncio.Event) -> None:
            nonlocal stopped
            await stopping.wait()
            stopped = True
            group.cancel_scope.cancel()

        try:
            async with anyio.create_task_group() as group:
                group.start_soon(respond)
                if self.stopping is not None:
                    group.start_soon(stop, self.stopping)
            if stopped:
                await self._cut(scope, receive, noted, started=started)
        finally:
            with anyio.CancelScope(shield=True):
                await self.events.aclose()

    async def _cut(self, scope: Scope, receive: Receive, send: Send, *, started: bool) -> None:
        """End the response with the shutdown error: an event, or a 503 if nothing was sent."""
        if not started:
            response = JSONResponse(error_body(SHUTTING_DOWN), status_code=503)
            await response(scope, receive, send)
            return
        body = event(error_body(SHUTTING_DOWN)).encode()
        await send({"type": "http.response.body", "body": body, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})
