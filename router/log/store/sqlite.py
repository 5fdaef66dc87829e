"""The SQLite decision log: one file under ``data_dir``, the default store.

    store = SQLiteStore(settings.decision_db_path)

Tables (``PRAGMA user_version`` 1):

    decisions(request_id PRIMARY KEY, time_us, record, embedding)
        record: the DecisionRecord's JSON without its embedding; embedding: float16 bytes
    feedback(seq, id UNIQUE, idempotency_key UNIQUE, request_id, time_us, event)
        event: the Feedback's JSON

**Idempotent.** ``INSERT OR IGNORE`` on the request id: writing a record twice (a spool replay
after a write whose answer was lost) stores it once. Feedback with an idempotency key already
stored is not stored again; the stored event is returned.

**Concurrent writers.** The journal is WAL (readers never wait for the writer), each thread has
its own connection, each write is one ``BEGIN IMMEDIATE`` transaction, and a writer that finds
the file locked waits up to ``busy_timeout_s`` rather than failing; several processes may share
the file. ``synchronous=NORMAL``: a committed write survives the process being killed; a power
cut may take the last transactions.

``connect`` and ``transaction`` are shared with the spool (``router.log.store.spool``),
``Connections`` with the spend counters (``router.log.spend``). SQLite's errors become
``DecisionLogError`` naming the file.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from itertools import groupby
from pathlib import Path
from typing import Final

from records import DecisionRecord, Feedback
from router.errors import DecisionLogError
from router.log.store.base import DecisionStore, Known, Logged

__all__ = ["Connections", "SQLiteStore", "connect", "micros", "transaction", "translated_errors"]

BUSY_TIMEOUT_S: Final = 10.0
PAGE_ROWS: Final = 500  # decisions read per query by ``logged``, and ids per IN (...)
SCHEMA_VERSION: Final = 1
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND: Final = timedelta(microseconds=1)

_SCHEMA: Final = (
    """CREATE TABLE IF NOT EXISTS decisions (
        request_id TEXT PRIMARY KEY,
        time_us INTEGER NOT NULL,
        record TEXT NOT NULL,
        embedding BLOB NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS decisions_by_time ON decisions (time_us, request_id)",
    """CREATE TABLE IF NOT EXISTS feedback (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        id TEXT NOT NULL UNIQUE,
        idempotency_key TEXT UNIQUE,
        request_id TEXT NOT NULL,
        time_us INTEGER NOT NULL,
        event TEXT NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS feedback_by_request ON feedback (request_id, time_us)",
    f"PRAGMA user_version = {SCHEMA_VERSION}",
)


def micros(time: datetime) -> int:
    """``time`` as whole microseconds since the epoch (naive times are taken as UTC)."""
    aware = time if time.tzinfo is not None else time.replace(tzinfo=UTC)
    return (aware - _EPOCH) // _MICROSECOND


@contextmanager
def translated_errors(path: Path) -> Iterator[None]:
    """SQLite's errors as ``DecisionLogError`` naming ``path``, the cause kept."""
    try:
        yield
    except sqlite3.Error as exc:
        raise DecisionLogError(f"{path}: {exc}") from exc


def connect(path: Path, busy_timeout_s: float = BUSY_TIMEOUT_S) -> sqlite3.Connection:
    """A connection in autocommit mode (transactions are explicit) on a WAL journal."""
    with translated_errors(path):
        path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(
            path, timeout=busy_timeout_s, isolation_level=None, check_same_thread=False
        )
        db.execute("PRAGMA journal_mode = WAL")
        db.execute("PRAGMA synchronous = NORMAL")
    return db


@contextmanager
def transaction(db: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """One write transaction, taking the write lock at once (no upgrade deadlocks)."""
    db.execute("BEGIN IMMEDIATE")
    try:
        yield db
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


class Connections:
    """One ``connect``-ed connection to ``path`` per thread, all closed together."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._lock = threading.Lock()

    def get(self) -> sqlite3.Connection:
        db: sqlite3.Connection | None = getattr(self._local, "db", None)
        if db is None:
            db = connect(self.path)
            self._local.db = db
            with self._lock:
                self._all.append(db)
        return db

    def close(self) -> None:
        with self._lock:
            for db in self._all:
                db.close()
            self._all.clear()


class SQLiteStore(DecisionStore):
    """Decisions and feedback in one SQLite file; safe to share between threads and processes."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._connections = Connections(path)
        with translated_errors(path), transaction(self._connections.get()) as db:
            for statement in _SCHEMA:
                db.execute(statement)

    def append_decisions(self, records: Sequence[DecisionRecord]) -> None:
        rows = [
            (
                record.request_id,
                micros(record.time),
                record.model_dump_json(exclude={"embedding"}),
                record.embedding,
            )
            for record in records
        ]
        with translated_errors(self.path), transaction(self._connections.get()) as db:
            db.executemany("INSERT OR IGNORE INTO decisions VALUES (?, ?, ?, ?)", rows)

    def append_feedback(self, feedback: Feedback) -> Feedback:
        key = feedback.idempotency_key
        with translated_errors(self.path), transaction(self._connections.get()) as db:
            if key is not None:
                row = db.execute(
                    "SELECT event FROM feedback WHERE idempotency_key = ?", (key,)
                ).fetchone()
                if row is not None:
                    return Feedback.model_validate_json(row[0])
            db.execute(
                "INSERT INTO feedback (id, idempotency_key, request_id, time_us, event)"
                " VALUES (?, ?, ?, ?, ?)",
                (
                    feedback.id,
                    key,
                    feedback.request_id,
                    micros(feedback.time),
                    feedback.model_dump_json(),
                ),
            )
        return feedback

    def has_decision(self, request_id: str) -> bool:
        with translated_errors(self.path):
            row = self._connections.get().execute(
                "SELECT 1 FROM decisions WHERE request_id = ?", (request_id,)
            )
            return row.fetchone() is not None

    def decision_key(self, request_id: str) -> Known | None:
        with translated_errors(self.path):
            row = (
                self._connections.get()
                .execute(
                    "SELECT json_extract(record, '$.key_id') FROM decisions WHERE request_id = ?",
                    (request_id,),
                )
                .fetchone()
            )
        return None if row is None else Known(row[0])

    def logged(
        self, since: datetime | None = None, until: datetime | None = None
    ) -> Iterator[Logged]:
        """Oldest first, a page of ``PAGE_ROWS`` decisions (and their feedback) per query."""
        low = micros(since) if since is not None else -(2**62)
        high = micros(until) if until is not None else 2**62
        after: tuple[int, str] = (low - 1, "")
        while True:
            with translated_errors(self.path):
                page = self._page(low, high, after)
                feedback = self._feedback([request_id for _, request_id, _, _ in page])
            for _, request_id, record, embedding in page:
                yield Logged(_record(record, embedding), feedback.get(request_id, []))
            if len(page) < PAGE_ROWS:
                return
            after = (page[-1][0], page[-1][1])

    def _page(
        self, low: int, high: int, after: tuple[int, str]
    ) -> list[tuple[int, str, str, bytes]]:
        rows = self._connections.get().execute(
            "SELECT time_us, request_id, record, embedding FROM decisions"
            " WHERE time_us >= ? AND time_us < ? AND (time_us, request_id) > (?, ?)"
            " ORDER BY time_us, request_id LIMIT ?",
            (low, high, *after, PAGE_ROWS),
        )
        return rows.fetchall()

    def _feedback(self, request_ids: Sequence[str]) -> dict[str, list[Feedback]]:
        if not request_ids:
            return {}
        marks = ", ".join("?" * len(request_ids))
        rows = self._connections.get().execute(
            f"SELECT request_id, event FROM feedback WHERE request_id IN ({marks})"
            " ORDER BY request_id, time_us, seq",
            tuple(request_ids),
        )
        return {
            request_id: [Feedback.model_validate_json(event) for _, event in events]
            for request_id, events in groupby(rows.fetchall(), key=lambda row: row[0])
        }

    def close(self) -> None:
        self._connections.close()


def _record(record: str, embedding: bytes) -> DecisionRecord:
    data = json.loads(record)
    data["embedding"] = bytes(embedding)
    return DecisionRecord.model_validate(data)
