"""Concurrent decisions share one encoder pass.

The encoder is the decision's cost, and on a CPU one forward pass over 32 short prompts costs a
fraction of 32 passes over one. ``DecisionBatcher`` queues the prepared texts of concurrent
requests and scores whatever is waiting as one batch, in a worker thread, while the next batch
gathers behind it:

    batcher = DecisionBatcher(decider, max_batch=32)     # one per serving Snapshot
    assessment = await batcher.assess(decider.prepare(messages))

Nothing waits for a batch to fill: a request that finds the encoder idle is scored at once, alone,
so a lone request pays only a queue hop; batches form only while the encoder is busy. A request
whose client goes away leaves the queue (or its batch's result unread); the others are unaffected.
An error scoring a batch is not raised to every request in it. A text the encoder cannot encode
(``UnencodableTextError``, a lone surrogate) gets that error alone and the rest of the batch is
scored again without it; any other error has the batch scored again one request at a time, so only
the request that fails fails.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Sequence

import anyio

from classifiers.errors import UnencodableTextError
from router.decision.decider import Assessment, Decider, Prepared

__all__ = ["DecisionBatcher"]

_Waiting = tuple[Prepared, "asyncio.Future[Assessment]"]


class DecisionBatcher:
    """Scores the requests that arrive while the encoder is busy together; see the module doc."""

    def __init__(self, decider: Decider, *, max_batch: int = 32) -> None:
        if max_batch < 1:
            raise ValueError(f"max_batch must be at least 1, got {max_batch}")
        self.decider = decider
        self.max_batch = max_batch
        self._waiting: deque[_Waiting] = deque()
        self._worker: asyncio.Task[None] | None = None

    async def assess(self, prepared: Prepared) -> Assessment:
        """The assessment of ``prepared``, scored in the next batch."""
        future: asyncio.Future[Assessment] = asyncio.get_running_loop().create_future()
        self._waiting.append((prepared, future))
        if self._worker is None or self._worker.done():
            self._worker = asyncio.create_task(self._drain(), name="decision-batcher")
        return await future

    async def _drain(self) -> None:
        batch: list[_Waiting] = []
        try:
            while self._waiting:
                batch = self._next_batch()
                if batch:
                    await self._score(batch)
        finally:  # only cancellation (the app shutting down) leaves requests still waiting
            for _, future in [*batch, *self._waiting]:
                future.cancel()

    def _next_batch(self) -> list[_Waiting]:
        batch: list[_Waiting] = []
        while self._waiting and len(batch) < self.max_batch:
            waiting = self._waiting.popleft()
            if not waiting[1].done():  # its request was cancelled while it queued
                batch.append(waiting)
        return batch

    async def _score(self, batch: Sequence[_Waiting]) -> None:
        prepared = [item for item, _ in batch]
        try:
            assessments = await anyio.to_thread.run_sync(self.decider.assess_batch, prepared)
        except UnencodableTextError as exc:
            await self._score_without(batch, exc)
            return
        except Exception as exc:
            if len(batch) == 1:
                _settle(batch[0][1], exc)
                return
            for item, future in batch:  # find the one that fails; the others are scored
                if not future.done():
                    await self._score([(item, future)])
            return
        for (_, future), assessment in zip(batch, assessments, strict=True):
            _settle(future, assessment)

    async def _score_without(self, batch: Sequence[_Waiting], error: UnencodableTextError) -> None:
        """Give each text the encoder refused its own error; score the others again."""
        rest = []
        for index, (prepared, future) in enumerate(batch):
            if index not in error.problems:
                rest.append((prepared, future))
            else:
                _settle(future, UnencodableTextError({0: error.problems[index]}))
        if len(rest) == len(batch):  # the indices name no text of this batch: everyone hears it
            for _, future in batch:
                _settle(future, error)
        elif rest:
            await self._score(rest)


def _settle(future: asyncio.Future[Assessment], outcome: Assessment | Exception) -> None:
    if future.done():  # its request was cancelled meanwhile
        return
    if isinstance(outcome, Exception):
        future.set_exception(outcome)
    else:
        future.set_result(outcome)
