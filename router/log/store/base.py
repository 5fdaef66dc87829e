"""The decision log's interface: what every store does, and what the recorder writes to.

A ``DecisionStore`` (``SQLiteStore``, ``RedisStore``) keeps decision records and feedback:

    store.append_decisions(records)     # idempotent: a request id already stored is skipped
    store.append_feedback(event)        # idempotent per Idempotency-Key: the event it keeps
    store.has_decision(request_id)
    for logged in store.logged(since, until):   # each decision once, with all its feedback
        ...
    store.close()

Stores are called from worker threads, never from the event loop, and may block. A store
raises ``DecisionLogError`` (keeping its library's error as the cause) when it cannot be
reached, so that a caller can keep the records and try again: ``SpoolingSink`` does.

A ``DecisionSink`` is what ``DecisionRecorder`` hands records to from its worker thread:
``write`` and ``close`` are all it needs. A sink that also has ``write_batch`` is given the
records queued together in one call; one that has ``overflow`` takes, on the submitting thread,
the records that find the queue full (``SpoolingSink`` writes them to its spool).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple, Protocol, runtime_checkable

from records import DecisionRecord, Feedback

__all__ = [
    "BatchSink",
    "DecisionSink",
    "DecisionStore",
    "Known",
    "Logged",
    "OverflowSink",
    "in_window",
]


class DecisionSink(Protocol):
    """Stores decision records; called from one thread at a time, never on the event loop."""

    def write(self, record: DecisionRecord) -> None: ...

    def close(self) -> None: ...


@runtime_checkable
class BatchSink(DecisionSink, Protocol):
    """A sink that takes the records queued together in one call."""

    def write_batch(self, records: Sequence[DecisionRecord]) -> None: ...


@runtime_checkable
class OverflowSink(DecisionSink, Protocol):
    """A sink that takes records the recorder's queue has no room for, on the caller's thread;
    ``overflow`` must be quick and may raise if even that fails."""

    def overflow(self, record: DecisionRecord) -> None: ...


class Logged(NamedTuple):
    """One decision and every feedback event on it, oldest first."""

    record: DecisionRecord
    feedback: list[Feedback]


def in_window(time: datetime, since: datetime | None, until: datetime | None) -> bool:
    """``since <= time < until``, either end open when None."""
    return (since is None or time >= since) and (until is None or time < until)


@dataclass(frozen=True)
class Known:
    """A logged request, and the id of the API key that made it (None: before keys)."""

    key_id: str | None


class DecisionStore(ABC):
    """Where decision records and their feedback live."""

    @abstractmethod
    def append_decisions(self, records: Sequence[DecisionRecord]) -> None:
        """Store ``records``, skipping any whose request id is already stored."""

    @abstractmethod
    def append_feedback(self, feedback: Feedback) -> Feedback:
        """Store ``feedback`` and return it; if an event with the same idempotency key is
        already stored, store nothing and return that one."""

    @abstractmethod
    def has_decision(self, request_id: str) -> bool:
        """Whether a record of ``request_id`` is stored."""

    def decision_key(self, request_id: str) -> Known | None:
        """Who made ``request_id`` (its record's key id), or None if no record of it is stored."""
        return Known(None) if self.has_decision(request_id) else None

    @abstractmethod
    def logged(
        self, since: datetime | None = None, until: datetime | None = None
    ) -> Iterator[Logged]:
        """Each decision with ``since <= time < until`` once, with its feedback."""

    @abstractmethod
    def close(self) -> None:
        """Release connections; the store is not used afterwards."""
