"""The SQLite store: its file, and many writers at once."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

from records import Feedback
from router.log.store.sqlite import SQLiteStore
from tests.router.conftest import RECORD_START, decision_record

THREADS = 8
PER_THREAD = 250


def test_the_file_uses_a_wal_journal(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "decisions.sqlite3"
    SQLiteStore(path).close()

    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        assert db.execute("PRAGMA user_version").fetchone() == (1,)


def test_concurrent_writers_store_every_record_once(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "decisions.sqlite3")
    start = threading.Barrier(THREADS)
    failures: list[BaseException] = []

    def write(thread: int) -> None:
        start.wait()
        try:
            for n in range(PER_THREAD):
                # Every record is written by two threads, one record or a pair at a time.
                number = (thread // 2) * PER_THREAD + n
                store.append_decisions([decision_record(number)])
                if n % 10 == 0:
                    store.append_decisions([decision_record(number), decision_record(number + 1)])
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=write, args=(t,)) for t in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    ids = [logged.record.request_id for logged in store.logged()]
    store.close()
    assert failures == []
    expected = {f"req_{n}" for n in range(THREADS // 2 * PER_THREAD)}
    assert len(ids) == len(set(ids)) == len(expected)
    assert set(ids) == expected


def test_two_stores_on_one_file_see_each_other(tmp_path: Path) -> None:
    path = tmp_path / "decisions.sqlite3"
    writer, reader = SQLiteStore(path), SQLiteStore(path)
    writer.append_decisions([decision_record(1)])
    reader.append_feedback(
        Feedback(id="fb_1", request_id="req_1", time=RECORD_START, outcome="success")
    )

    assert reader.has_decision("req_1")
    assert [len(logged.feedback) for logged in writer.logged()] == [1]
    writer.close()
    reader.close()
