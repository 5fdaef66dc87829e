"""Where decision records go, written off the request path.

A ``DecisionSink`` takes one ``DecisionRecord`` at a time and may block (a database insert, a
network call): the ``DecisionRecorder`` calls it from a worker thread of its own, so a request
only ever puts its record on a bounded queue. When the queue is full the record is dropped and
counted, rather than slowing the service down.

    recorder = DecisionRecorder(LoggingSink(), capacity=10_000)
    recorder.start()
    recorder.submit(record)        # on the request path: never waits
    recorder.close()               # at shutdown: writes what is queued, then closes the sink

``LoggingSink`` is the default until a store lands: one JSON line per record on the
``router.decisions`` logger. A SQLite or Redis sink only needs ``write`` and ``close``.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
from collections.abc import Callable
from typing import Final, Protocol

from router.records import DecisionRecord

__all__ = ["DECISIONS_LOGGER", "DecisionRecorder", "DecisionSink", "LoggingSink"]

DECISIONS_LOGGER: Final = "router.decisions"
CLOSE_TIMEOUT_S: Final = 5.0

logger = logging.getLogger(__name__)


class DecisionSink(Protocol):
    """Stores decision records; called from one thread at a time, never on the event loop."""

    def write(self, record: DecisionRecord) -> None: ...

    def close(self) -> None: ...


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
    """Hands records to a sink from a worker thread; ``submit`` never blocks."""

    def __init__(
        self,
        sink: DecisionSink,
        *,
        capacity: int = 10_000,
        on_drop: Callable[[], None] | None = None,
    ) -> None:
        self.sink = sink
        self.on_drop = on_drop
        self._queue: queue.Queue[DecisionRecord | None] = queue.Queue(maxsize=capacity)
        self._worker = threading.Thread(target=self._drain, name="decision-recorder", daemon=True)

    def start(self) -> None:
        self._worker.start()

    def submit(self, record: DecisionRecord) -> bool:
        """Queue ``record`` for the sink; False (and counted) if the queue is full."""
        try:
            self._queue.put_nowait(record)
        except queue.Full:
            if self.on_drop is not None:
                self.on_drop()
            return False
        return True

    def close(self, timeout_s: float = CLOSE_TIMEOUT_S) -> None:
        """Write what is queued (for up to ``timeout_s``), then close the sink."""
        if self._worker.is_alive():
            with contextlib.suppress(queue.Full):
                self._queue.put(_STOP, timeout=timeout_s)
            self._worker.join(timeout_s)
        if self._worker.is_alive():
            logger.warning("decision records still queued after %.1f s are lost", timeout_s)
            return
        self.sink.close()

    def _drain(self) -> None:
        while (record := self._queue.get()) is not None:
            try:
                self.sink.write(record)
            except Exception:  # a broken sink must not stop the records that follow
                logger.exception("the decision sink failed to write record %s", record.request_id)
