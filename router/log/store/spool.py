"""The spool: records wait in a local SQLite file until the store takes them; none is lost.

``SpoolingSink`` is the ``DecisionSink`` the service writes through, whatever the store:

    sink = SpoolingSink(store, Spool(settings.decision_spool_path))
    sink.start()                  # the replay thread; it first replays what a past run left
    sink.write_batch(records)     # the recorder's thread: to the store, or to the spool
    sink.overflow(record)         # a request's thread, when the recorder's queue is full
    sink.close()                  # one last replay if the store is back; the rest stays on disk

**When records are spooled.** A batch goes to the spool when the store fails (``DecisionLogError``:
Redis unreachable, or any other error), and so does every batch while older records are still
spooled, so that the store receives records in the order they were written. The recorder also
spools a record itself when its queue is full (``overflow``), instead of dropping it.

**Replay.** A background thread moves spooled records to the store, oldest first, a batch at a
time, deleting a batch from the spool only after the store took it. While the store fails it
waits ``retry_initial_s``, doubling to ``retry_max_s``. A batch whose write failed half-way is
written again in full: stores are idempotent on the request id, so nothing is stored twice.
A record the store refuses for another reason than being unreachable (a bug, not an outage) is
retried alone and, if it fails again, moved to the spool's ``rejected`` table with the error,
kept for inspection rather than blocking the records behind it.

**Shutdown.** ``close`` stops the thread and makes one last pass if the store answers; whatever
is left stays in the file, and the next start replays it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Final

from pydantic import ValidationError

from records import DecisionRecord
from router.errors import DecisionLogError
from router.log.store.base import DecisionStore, Known
from router.log.store.sqlite import connect, transaction, translated_errors

__all__ = ["Spool", "SpoolingSink"]

logger = logging.getLogger(__name__)

REPLAY_BATCH: Final = 500
IDLE_WAIT_S: Final = 1.0
CLOSE_TIMEOUT_S: Final = 5.0

_SCHEMA: Final = (
    """CREATE TABLE IF NOT EXISTS spooled (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        request_id TEXT NOT NULL,
        record TEXT NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS spooled_by_request ON spooled (request_id)",
    """CREATE TABLE IF NOT EXISTS rejected (
        seq INTEGER PRIMARY KEY,
        request_id TEXT NOT NULL,
        record TEXT NOT NULL,
        error TEXT NOT NULL
    )""",
)


class Spool:
    """Decision records in a local SQLite file, first in first out; safe between threads."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._db = connect(path)
        self._lock = threading.Lock()
        with self._locked(), transaction(self._db) as db:
            for statement in _SCHEMA:
                db.execute(statement)
            self._count: int = db.execute("SELECT COUNT(*) FROM spooled").fetchone()[0]

    def __len__(self) -> int:
        """Records waiting (kept in memory: reading it costs no query)."""
        return self._count

    def append(self, records: Sequence[DecisionRecord]) -> None:
        rows = [(record.request_id, record.model_dump_json()) for record in records]
        with self._locked(), transaction(self._db) as db:
            db.executemany("INSERT INTO spooled (request_id, record) VALUES (?, ?)", rows)
            self._count += len(rows)

    def oldest(self, limit: int) -> list[tuple[int, DecisionRecord]]:
        """Up to ``limit`` of the oldest records, with their sequence numbers; a row that no
        longer reads as a record (written by another version) is moved to ``rejected``."""
        with self._locked():
            rows = self._db.execute(
                "SELECT seq, record FROM spooled ORDER BY seq LIMIT ?", (limit,)
            ).fetchall()
            if not rows:
                self._count = 0  # another process sharing the file emptied it
        oldest = []
        for seq, text in rows:
            try:
                oldest.append((seq, DecisionRecord.model_validate_json(text)))
            except ValidationError as exc:
                self.reject(seq, f"unreadable: {exc.errors(include_url=False)[0]['msg']}")
        return oldest

    def remove_through(self, seq: int) -> None:
        """Delete the records up to sequence number ``seq``: the store has them."""
        with self._locked(), transaction(self._db) as db:
            removed = db.execute("DELETE FROM spooled WHERE seq <= ?", (seq,)).rowcount
            self._count -= removed

    def reject(self, seq: int, error: str) -> None:
        """Move record ``seq`` aside, with ``error``: kept, but no longer replayed."""
        with self._locked(), transaction(self._db) as db:
            db.execute(
                "INSERT INTO rejected SELECT seq, request_id, record, ? FROM spooled WHERE seq = ?",
                (error, seq),
            )
            self._count -= db.execute("DELETE FROM spooled WHERE seq = ?", (seq,)).rowcount
        logger.error("decision record #%d moved to %s (table rejected): %s", seq, self.path, error)

    def holds(self, request_id: str) -> bool:
        return self.key_of(request_id) is not None

    def key_of(self, request_id: str) -> Known | None:
        """Who made ``request_id``, if its record waits here."""
        with self._locked():
            row = self._db.execute(
                "SELECT json_extract(record, '$.key_id') FROM spooled WHERE request_id = ? LIMIT 1",
                (request_id,),
            ).fetchone()
        return None if row is None else Known(row[0])

    def close(self) -> None:
        with self._locked():
            self._db.close()

    @contextmanager
    def _locked(self) -> Iterator[None]:
        with self._lock, translated_errors(self.path):
            yield


class SpoolingSink:
    """Writes records to ``store``, or to ``spool`` until the store takes them back."""

    def __init__(
        self,
        store: DecisionStore,
        spool: Spool,
        *,
        retry_initial_s: float = 0.05,
        retry_max_s: float = 5.0,
        replay_batch: int = REPLAY_BATCH,
    ) -> None:
        self.store = store
        self.spool = spool
        self.retry_initial_s = retry_initial_s
        self.retry_max_s = retry_max_s
        self.replay_batch = replay_batch
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._outage = False
        self._thread = threading.Thread(target=self._run, name="decision-spool", daemon=True)

    @property
    def backlog(self) -> int:
        """Records waiting in the spool."""
        return len(self.spool)

    def start(self) -> None:
        if len(self.spool):
            logger.info(
                "replaying %d decision records left in %s", len(self.spool), self.spool.path
            )
        self._thread.start()

    def write(self, record: DecisionRecord) -> None:
        self.write_batch([record])

    def write_batch(self, records: Sequence[DecisionRecord]) -> None:
        """To the store if nothing is waiting and it takes them; else to the spool."""
        if not len(self.spool):
            try:
                self.store.append_decisions(records)
                return
            except DecisionLogError as exc:
                self._note_outage(exc)
            except Exception:
                logger.exception("the decision store refused %d records; spooling", len(records))
        self.spool.append(records)
        self._wake.set()

    def overflow(self, record: DecisionRecord) -> None:
        """A record the recorder's queue had no room for: straight to the spool."""
        self.spool.append([record])
        self._wake.set()

    def holds(self, request_id: str) -> bool:
        """Whether ``request_id``'s record is waiting in the spool."""
        return self.spool.holds(request_id)

    def key_of(self, request_id: str) -> Known | None:
        return self.spool.key_of(request_id)

    def close(self, timeout_s: float = CLOSE_TIMEOUT_S) -> None:
        """Stop replaying, make one last pass (for up to ``timeout_s``) if the store answers,
        and close the spool."""
        deadline = time.monotonic() + timeout_s
        self._stopping.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout_s)
        if self._thread.is_alive():
            logger.error("the spool's replay thread did not stop; leaving the spool open")
            return
        if len(self.spool):
            self._replay(until=lambda: time.monotonic() > deadline)
        if len(self.spool):
            logger.warning(
                "%d decision records stay in %s; the next start replays them",
                len(self.spool),
                self.spool.path,
            )
        self.spool.close()

    def _run(self) -> None:
        delay = self.retry_initial_s
        while not self._stopping.is_set():
            self._wake.clear()
            if not len(self.spool):
                self._wake.wait(IDLE_WAIT_S)
                continue
            if self._replay(until=self._stopping.is_set):
                delay = self.retry_initial_s
            else:
                self._stopping.wait(delay)
                delay = min(delay * 2, self.retry_max_s)

    def _replay(self, until: Callable[[], bool]) -> bool:
        """Move spooled records to the store, oldest first, until the spool is empty (True) or
        ``until()`` says stop (True); False when the store fails."""
        replayed = 0
        while not until() and (batch := self.spool.oldest(self.replay_batch)):
            try:
                self.store.append_decisions([record for _, record in batch])
            except DecisionLogError as exc:
                self._note_outage(exc)
                return False
            except Exception:
                logger.exception("the decision store refused a spooled batch; one by one")
                if not self._replay_one_by_one(batch):
                    return False
            self.spool.remove_through(batch[-1][0])
            replayed += len(batch)
        if replayed and not len(self.spool):
            logger.info("the decision store took %d spooled records; the spool is empty", replayed)
            self._outage = False
        return True

    def _replay_one_by_one(self, batch: Sequence[tuple[int, DecisionRecord]]) -> bool:
        for seq, record in batch:
            try:
                self.store.append_decisions([record])
            except DecisionLogError as exc:
                self._note_outage(exc)
                return False
            except Exception as exc:
                self.spool.reject(seq, f"{type(exc).__name__}: {exc}")
        return True

    def _note_outage(self, exc: DecisionLogError) -> None:
        if not self._outage:
            logger.warning(
                "the decision store is unreachable (%s); records wait in %s",
                exc.message,
                self.spool.path,
            )
        self._outage = True
