"""``UpstreamStream``: an open stream of OpenAI-shaped chunks, and the usage and cost it reports.

A target that samples more than once cannot stream its vote: ``replayed`` sends the chosen
answer as the chunks a stream of it would have sent.
"""

from __future__ import annotations

import time
from collections.abc import (
    AsyncGenerator,
    AsyncIterator,
    Awaitable,
    Callable,
    Collection,
    Mapping,
    Sequence,
)
from types import TracebackType
from typing import Any, Self, cast

from router.upstream.answers import starts_answer
from router.upstream.cost import answering_model, stream_cost
from router.upstream.results import Chunk, UpstreamResult, Usage, elapsed_ms
from router.upstream.translation import Route, translated

__all__ = [
    "UpstreamStream",
    "litellm_chunks",
    "open_answer",
    "replayed",
    "replayed_stream",
    "resumed",
]


class UpstreamStream:
    """An open stream of OpenAI-shaped chunks. Iterate it once; close it (or leave an
    ``async with`` block) to drop the upstream connection early. Cancelling the task that
    iterates it closes the connection too.

    ``model``, ``usage``, ``cost_usd`` and ``latency_ms`` are final once the stream ends. Usage
    is always asked of the provider; the usage chunk reaches the caller only if it asked for one
    (``stream_options.include_usage``).
    """

    def __init__(
        self,
        chunks: AsyncGenerator[Chunk, None],
        *,
        model: str,
        include_usage: bool,
        started: float,
        vote: str | None = None,
        on_close: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.model = model
        self.vote = vote
        self.usage = Usage()
        self.cost_usd = 0.0
        self.latency_ms = 0.0
        self._include_usage = include_usage
        self._started = started
        self._on_close = on_close
        self._chunks = self._observed(chunks)

    def __aiter__(self) -> AsyncIterator[Chunk]:
        return self._chunks

    async def aclose(self) -> None:
        """Stop the stream and drop the upstream connection, read to the end or not."""
        await self._chunks.aclose()
        await self._release()

    async def _release(self) -> None:
        on_close, self._on_close = self._on_close, None
        if on_close is not None:
            await on_close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def _observed(self, chunks: AsyncGenerator[Chunk, None]) -> AsyncGenerator[Chunk, None]:
        try:
            async for chunk in chunks:
                if chunk.get("usage"):
                    self.usage = Usage.from_openai(chunk["usage"])
                    self.cost_usd = stream_cost(self.model, chunk["usage"])
                    if not self._include_usage:
                        if not chunk.get("choices"):
                            continue
                        chunk = {key: value for key, value in chunk.items() if key != "usage"}
                yield chunk
        finally:
            self.latency_ms = elapsed_ms(self._started)
            await chunks.aclose()
            await self._release()


async def litellm_chunks(
    source: Any, route: Route, secrets: Collection[str]
) -> AsyncGenerator[Chunk, None]:
    """litellm's chunks as dicts (the ``UpstreamStream`` around them closes ``source``)."""
    with translated(route, secrets):
        async for chunk in source:
            yield cast(Chunk, chunk.model_dump(exclude_none=True))


async def resumed(
    read_ahead: Sequence[Chunk], rest: AsyncGenerator[Chunk, None]
) -> AsyncGenerator[Chunk, None]:
    """A stream whose first chunks were read ahead."""
    try:
        for chunk in read_ahead:
            yield chunk
        async for chunk in rest:
            yield chunk
    finally:
        await rest.aclose()


async def replayed(result: UpstreamResult) -> AsyncGenerator[Chunk, None]:
    """A finished completion as the chunks a stream of it would have sent."""
    base = {key: result.response.get(key) for key in ("id", "created", "model")}
    base["object"] = "chat.completion.chunk"
    choice = (result.response.get("choices") or [{}])[0]
    message = choice.get("message") or {}
    delta = {"role": "assistant", "content": message.get("content") or ""}
    yield base | {"choices": [{"index": 0, "delta": delta}]}
    finish = choice.get("finish_reason") or "stop"
    yield base | {"choices": [{"index": 0, "delta": {}, "finish_reason": finish}]}
    yield base | {"choices": [], "usage": result.usage.as_openai()}


Opened = tuple[Any, list[Chunk], AsyncGenerator[Chunk, None]]
"""litellm's stream, the chunks read ahead, and the rest of its chunks."""


async def open_answer(
    acompletion: Callable[..., Awaitable[Any]],
    route: Route,
    group: str,
    secrets: Collection[str],
    **options: Any,
) -> tuple[str, Opened | None]:
    """The answering model and its stream (``acompletion(group, **options)``), read up to its
    first chunk carrying some of the answer; None for the stream if it ended before one (an
    empty stream, closed here)."""
    with translated(route, secrets):
        source = await acompletion(group, **options)
    answering = answering_model(source, route.model)
    chunks = litellm_chunks(source, route, secrets)
    read_ahead: list[Chunk] = []
    try:
        async for chunk in chunks:
            read_ahead.append(chunk)
            if starts_answer(chunk):
                return answering, (source, read_ahead, chunks)
    except BaseException:
        await source.aclose()
        raise
    await source.aclose()
    return answering, None


def replayed_stream(
    result: UpstreamResult, extra_params: Mapping[str, Any] | None
) -> UpstreamStream:
    """A finished answer as a stream, for a strategy that cannot stream (a cascade); the
    usage chunk reaches the caller if it asked for one."""
    options = (extra_params or {}).get("stream_options") or {}
    return UpstreamStream(
        replayed(result),
        model=result.model,
        include_usage=bool(options.get("include_usage")),
        started=time.perf_counter() - result.latency_ms / 1000.0,
        vote=result.vote,
    )
