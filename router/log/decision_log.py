"""The service's decision log: records written off the request path, feedback, lookups.

A request only puts its record on the ``DecisionRecorder``'s bounded queue; the recorder's worker
thread hands what is queued, a batch at a time, to a ``DecisionSink`` (``router.log.store.base``),
which may block:

    recorder = DecisionRecorder(sink, capacity=10_000)
    recorder.start()
    recorder.submit(record)        # on the request path: never waits for the store
    recorder.close()               # at shutdown: writes what is queued, then closes the sink

The service's sink is a ``SpoolingSink`` over the store the settings select (SQLite, or Redis
when ``ROUTER_REDIS_URL`` is set): records the store cannot take wait in a local spool file and
are replayed in order once it is back (``router.log.store.spool``).

**A full queue drops nothing.** When the store falls behind and the queue fills, ``submit``
hands the record to an overflow thread, which writes it straight to the spool (a local SQLite
insert, which may wait for the spool's replay to release its lock: the request's thread, the
event loop, never waits) and counts it in ``router_decision_log_overflow_total``. Only a
record the spool cannot take either (the disk is full) is lost; it is counted in
``router_decision_records_dropped_total`` and logged.

``DecisionLog`` bundles the recorder, the spooling sink and the store for the app: ``knows``
looks a request id up where its record may be (queued, spooled, stored, in that order, so a
record moving between them is never missed) and ``add_feedback`` stores feedback.
``LoggingSink`` (one JSON line per record on the ``router.decisions`` logger) is a sink for
tools and tests that want no store.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import uuid
from collections import deque
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Final, Protocol

from records import DecisionRecord, Feedback, FeedbackOutcome, Verifier, request_age_s
from router.errors import (
    IdempotencyKeyReusedError,
    RequestNotLoggedYetError,
    RouterError,
    UnknownRequestError,
)
from router.log.store import open_store
from router.log.store.base import BatchSink, DecisionSink, DecisionStore, Known, OverflowSink
from router.log.store.spool import Spool, SpoolingSink
from router.settings import Settings

__all__ = [
    "DECISIONS_LOGGER",
    "DecisionLog",
    "DecisionRecorder",
    "DecisionSink",
    "LogMetrics",
    "LoggingSink",
    "open_decision_log",
]

DECISIONS_LOGGER: Final = "router.decisions"
CLOSE_TIMEOUT_S: Final = 10.0
BATCH_SIZE: Final = 256
DROP_LOG_EVERY: Final = 1000

logger = logging.getLogger(__name__)
# How long after a request its record may still be on its way to the store (another replica's
# queue, or its spool while the store is away): feedback on it meanwhile is a 503 to retry.
PENDING_WINDOW_S: Final = 600.0


class LoggingSink:
    """One JSON line per record on the ``router.decisions`` logger, at INFO."""

    def __init__(self, logger_name: str = DECISIONS_LOGGER) -> None:
        self.logger = logging.getLogger(logger_name)

    def write(self, record: DecisionRecord) -> None:
        if self.logger.isEnabledFor(logging.INFO):
            self.logger.info(record.model_dump_json())

    def close(self) -> None:
        pass


_STOP: Final = None


class DecisionRecorder:
    """Hands records to a sink from a worker thread; ``submit`` never waits for the sink."""

    def __init__(
        self,
        sink: DecisionSink,
        *,
        capacity: int = 10_000,
        batch_size: int = BATCH_SIZE,
        on_drop: Callable[[], None] | None = None,
        on_overflow: Callable[[], None] | None = None,
    ) -> None:
        self.sink = sink
        self.batch_size = batch_size
        self.on_drop = on_drop
        self.on_overflow = on_overflow
        self._queue: queue.Queue[DecisionRecord | None] = queue.Queue(maxsize=capacity)
        self._in_flight: dict[str, str | None] = {}
        self._dropped = 0
        self._stop_seen = False
        self._worker = threading.Thread(target=self._drain, name="decision-recorder", daemon=True)
        # Records the full queue had no room for, on their way to the sink's overflow (the
        # spool) on a thread of their own: the spool may wait on a lock its replay holds, and
        # the event loop that submits must never wait with it.
        self._spilling: deque[DecisionRecord] = deque()
        self._spill_wake = threading.Event()
        self._closing = False
        self._spiller = threading.Thread(
            target=self._drain_overflow, name="decision-overflow", daemon=True
        )

    def start(self) -> None:
        self._worker.start()
        if isinstance(self.sink, OverflowSink):
            self._spiller.start()

    def submit(self, record: DecisionRecord) -> bool:
        """Queue ``record`` for the sink; when the queue is full, hand it to the overflow thread,
        which gives it to the sink's ``overflow`` (counted as dropped if that fails). False
        (and counted as dropped) only if the sink has no overflow."""
        self._in_flight[record.request_id] = record.key_id
        try:
            self._queue.put_nowait(record)
        except queue.Full:
            if self._spiller.is_alive() and not self._closing:
                self._spilling.append(record)
                self._spill_wake.set()
                return True
            self._in_flight.pop(record.request_id, None)
            return self._overflow(record)
        return True

    def queued(self) -> int:
        """Records waiting in the queue (approximately: others may be adding or taking)."""
        return self._queue.qsize()

    def holds(self, request_id: str) -> bool:
        """Whether ``request_id``'s record is queued or being written."""
        return request_id in self._in_flight

    def key_of(self, request_id: str) -> Known | None:
        """Who made ``request_id``, if its record is queued or being written."""
        try:
            return Known(self._in_flight[request_id])
        except KeyError:
            return None

    def close(self, timeout_s: float = CLOSE_TIMEOUT_S) -> None:
        """Write what is queued and overflowing (for up to ``timeout_s``), then close the sink."""
        self._closing = True
        self._spill_wake.set()
        if self._spiller.is_alive():
            self._spiller.join(timeout_s)
        while self._spilling and not self._spiller.is_alive():  # submitted as it stopped
            self._overflow(self._spilling.popleft())
        if self._worker.is_alive():
            with contextlib.suppress(queue.Full):
                self._queue.put(_STOP, timeout=timeout_s)
            self._worker.join(timeout_s)
        if self._worker.is_alive():
            left = self._spill()
            logger.error(
                "the decision sink did not finish in %.1f s; %d queued records went to its"
                " overflow, the batch it was writing may be lost",
                timeout_s,
                left,
            )
            return
        self.sink.close()

    def _drain_overflow(self) -> None:
        while True:
            self._spill_wake.wait()
            self._spill_wake.clear()
            while self._spilling:
                record = self._spilling.popleft()
                self._overflow(record)
                self._in_flight.pop(record.request_id, None)
            if self._closing:
                return

    def _overflow(self, record: DecisionRecord) -> bool:
        if isinstance(self.sink, OverflowSink):
            try:
                self.sink.overflow(record)
            except Exception:
                logger.exception("the decision sink's overflow failed on %s", record.request_id)
            else:
                if self.on_overflow is not None:
                    self.on_overflow()
                return True
        self._count_drops(1)
        return False

    def _spill(self) -> int:
        """Hand what is still queued to the overflow: the worker is stuck."""
        spilled = 0
        while True:
            try:
                record = self._queue.get_nowait()
            except queue.Empty:
                return spilled
            if record is not None:
                spilled += self._overflow(record)

    def _drain(self) -> None:
        while (batch := self._next_batch()) is not None:
            if batch:
                self._write(batch)

    def _next_batch(self) -> list[DecisionRecord] | None:
        """The records queued now (waiting for one if none is), up to ``batch_size``; None
        once the stop marker comes, after what was queued before it."""
        first = None if self._stop_seen else self._queue.get()
        if first is None:
            return None
        batch = [first]
        while len(batch) < self.batch_size:
            try:
                record = self._queue.get_nowait()
            except queue.Empty:
                break
            if record is None:
                self._stop_seen = True
                break
            batch.append(record)
        return batch

    def _write(self, batch: Sequence[DecisionRecord]) -> None:
        try:
            if isinstance(self.sink, BatchSink):
                self.sink.write_batch(batch)
            else:
                for record in batch:
                    self._write_one(record)
        except Exception:  # a broken sink must not stop the records that follow
            logger.exception("the decision sink failed to write %d records", len(batch))
            self._count_drops(len(batch))
        finally:
            for record in batch:
                self._in_flight.pop(record.request_id, None)

    def _write_one(self, record: DecisionRecord) -> None:
        try:
            self.sink.write(record)
        except Exception:
            logger.exception("the decision sink failed to write record %s", record.request_id)
            self._count_drops(1)

    def _count_drops(self, count: int) -> None:
        before, self._dropped = self._dropped, self._dropped + count
        if before == 0 or before // DROP_LOG_EVERY != self._dropped // DROP_LOG_EVERY:
            logger.error("%d decision records lost so far (see the errors above)", self._dropped)
        if self.on_drop is not None:
            for _ in range(count):
                self.on_drop()


class DecisionLog:
    """The recorder, the spooling sink (if any) and the store, as the app uses them."""

    def __init__(
        self,
        recorder: DecisionRecorder,
        store: DecisionStore,
        spooling: SpoolingSink | None = None,
    ) -> None:
        self.recorder = recorder
        self.store = store
        self.spooling = spooling

    def start(self) -> None:
        if self.spooling is not None:
            self.spooling.start()
        self.recorder.start()

    def knows(self, request_id: str) -> bool:
        """Whether a record of ``request_id`` is queued, spooled or stored; blocking."""
        return self.key_of(request_id) is not None

    def key_of(self, request_id: str) -> Known | None:
        """Who made ``request_id`` if a record of it is queued, spooled or stored; blocking."""
        known = self.recorder.key_of(request_id)
        if known is None and self.spooling is not None:
            known = self.spooling.key_of(request_id)
        return known if known is not None else self.store.decision_key(request_id)

    def add_feedback(
        self,
        request_id: str,
        *,
        outcome: FeedbackOutcome | None = None,
        rating: float | None = None,
        verifier: Verifier | None = None,
        source: str | None = None,
        idempotency_key: str | None = None,
        check: Callable[[Known], None] | None = None,
        step: int | None = None,
    ) -> Feedback:
        """Store one feedback event on ``request_id``, or return the one already stored with
        ``idempotency_key``; blocking. ``check`` may refuse it once the request's record is
        found (whose request it is). ``RequestNotLoggedYetError`` (503, retry) if no record of
        it is visible yet while its id is recent enough for one to be on its way (from another
        replica's queue or spool), ``UnknownRequestError`` (404) if not;
        ``IdempotencyKeyReusedError`` if the key came with other content."""
        known = self.key_of(request_id)
        if known is None:
            raise _not_found(request_id)
        if check is not None:
            check(known)
        event = Feedback(
            id=f"fb_{uuid.uuid4().hex}",
            request_id=request_id,
            time=datetime.now(UTC),
            outcome=outcome,
            rating=rating,
            verifier=verifier,
            source=source,
            idempotency_key=idempotency_key,
            step=step,
        )
        stored = self.store.append_feedback(event)
        if stored.id != event.id and not stored.says_the_same_as(event):
            raise IdempotencyKeyReusedError(
                f"Idempotency-Key {idempotency_key!r} was used for other feedback"
                f" ({stored.id} on {stored.request_id}); use a new key for new feedback",
                param="Idempotency-Key",
            )
        return stored

    def close(self) -> None:
        """Write what is queued, replay the spool if the store is back, close everything."""
        try:
            self.recorder.close()
        finally:
            self.store.close()


def _not_found(request_id: str) -> RouterError:
    age_s = request_age_s(request_id)
    if age_s is not None and -PENDING_WINDOW_S < age_s < PENDING_WINDOW_S:
        return RequestNotLoggedYetError(
            f"request {request_id!r} is not in the decision log yet (its record may still be on"
            " its way from the replica that served it); retry shortly",
            param="request_id",
        )
    return UnknownRequestError(
        f"no logged request has id {request_id!r} (it is the x-router-request-id"
        " header of a chat completion)",
        param="request_id",
    )


class LogMetrics(Protocol):
    """Where the log reports its queue, spool and losses (``router.service.metrics`` fits)."""

    def count_dropped_record(self) -> None: ...
    def count_overflow(self) -> None: ...
    def watch_queue(self, queued: Callable[[], int]) -> None: ...
    def watch_spool(self, backlog: Callable[[], int]) -> None: ...


def open_decision_log(
    settings: Settings, metrics: LogMetrics, sink: DecisionSink | None = None
) -> DecisionLog:
    """The log the settings describe; ``sink`` replaces the spooling sink (tests, tools), the
    store still serving feedback and lookups."""
    store = open_store(settings)
    spooling = None
    if sink is None:
        spooling = SpoolingSink(
            store,
            Spool(settings.decision_spool_path),
            retry_max_s=settings.spool_retry_max_s,
        )
        metrics.watch_spool(lambda: spooling.backlog)
        sink = spooling
    recorder = DecisionRecorder(
        sink,
        capacity=settings.decision_queue_size,
        on_drop=metrics.count_dropped_record,
        on_overflow=metrics.count_overflow,
    )
    metrics.watch_queue(recorder.queued)
    return DecisionLog(recorder, store, spooling)
