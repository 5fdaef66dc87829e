"""The spool and the spooling sink: records wait on disk while the store is away, then replay."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from datetime import datetime
from pathlib import Path

import pytest

from records import DecisionRecord, Feedback
from router.errors import DecisionLogError
from router.log.store.base import DecisionStore, Logged
from router.log.store.redis import RedisStore
from router.log.store.spool import Spool, SpoolingSink
from router.log.store.sqlite import SQLiteStore
from tests.redis_fixtures import RedisServer
from tests.router.conftest import decision_record
from tests.waiting import wait_until


class Switchable(DecisionStore):
    """A real SQLite store that can be switched off, or made to fail after writing."""

    def __init__(self, path: Path) -> None:
        self.inner = SQLiteStore(path)
        self.down = False
        self.fail_after_write = False
        self.refuse: set[str] = set()
        self.calls = 0

    def append_decisions(self, records: Sequence[DecisionRecord]) -> None:
        self.calls += 1
        if self.down:
            raise DecisionLogError("switched off")
        if self.refuse & {record.request_id for record in records}:
            raise ValueError("a record this store cannot take")
        self.inner.append_decisions(records)
        if self.fail_after_write:
            self.fail_after_write = False
            raise DecisionLogError("the answer was lost")

    def append_feedback(self, feedback: Feedback) -> Feedback:
        return self.inner.append_feedback(feedback)

    def has_decision(self, request_id: str) -> bool:
        return self.inner.has_decision(request_id)

    def logged(
        self, since: datetime | None = None, until: datetime | None = None
    ) -> Iterator[Logged]:
        return self.inner.logged(since, until)

    def close(self) -> None:
        self.inner.close()

    def ids(self) -> list[str]:
        return [logged.record.request_id for logged in self.inner.logged()]


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Switchable]:
    switchable = Switchable(tmp_path / "decisions.sqlite3")
    yield switchable
    switchable.close()


def sink_over(store: DecisionStore, path: Path) -> SpoolingSink:
    return SpoolingSink(store, Spool(path), retry_initial_s=0.01, retry_max_s=0.05)


def test_the_spool_is_first_in_first_out_and_outlives_its_process(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool.sqlite3")
    spool.append([decision_record(n) for n in (3, 1, 2)])
    spool.close()

    reopened = Spool(tmp_path / "spool.sqlite3")
    oldest = reopened.oldest(2)
    reopened.remove_through(oldest[-1][0])

    assert [record.request_id for _, record in oldest] == ["req_3", "req_1"]
    assert len(reopened) == 1
    assert reopened.holds("req_2") and not reopened.holds("req_3")
    assert oldest[0][1] == decision_record(3)
    reopened.close()


def test_records_go_straight_to_a_store_that_answers(store: Switchable, tmp_path: Path) -> None:
    sink = sink_over(store, tmp_path / "spool.sqlite3")
    sink.start()
    sink.write_batch([decision_record(1), decision_record(2)])

    assert store.ids() == ["req_1", "req_2"]
    assert sink.backlog == 0
    sink.close()


def test_while_the_store_is_away_records_wait_then_replay_in_order(
    store: Switchable, tmp_path: Path
) -> None:
    sink = sink_over(store, tmp_path / "spool.sqlite3")
    sink.start()
    sink.write(decision_record(1))
    store.down = True
    for n in range(2, 6):
        sink.write(decision_record(n))
    assert sink.backlog == 4 and sink.holds("req_3")

    store.down = False
    sink.write(decision_record(6))  # waits behind the spooled records: order is kept
    wait_until(lambda: sink.backlog == 0)
    sink.close()

    assert store.ids() == [f"req_{n}" for n in range(1, 7)]


def test_a_write_whose_answer_was_lost_is_replayed_without_a_duplicate(
    store: Switchable, tmp_path: Path
) -> None:
    sink = sink_over(store, tmp_path / "spool.sqlite3")
    sink.start()
    store.fail_after_write = True
    sink.write_batch([decision_record(1), decision_record(2)])  # stored, but reported failed

    wait_until(lambda: sink.backlog == 0)
    sink.close()

    assert store.ids() == ["req_1", "req_2"]


def test_closing_while_the_store_is_away_leaves_the_spool_for_the_next_start(
    store: Switchable, tmp_path: Path
) -> None:
    path = tmp_path / "spool.sqlite3"
    sink = sink_over(store, path)
    sink.start()
    store.down = True
    sink.write_batch([decision_record(n) for n in range(3)])
    sink.close(timeout_s=0.5)
    assert store.ids() == []

    store.down = False
    restarted = sink_over(store, path)
    restarted.start()
    wait_until(lambda: restarted.backlog == 0)
    restarted.close()

    assert store.ids() == ["req_0", "req_1", "req_2"]


def test_closing_when_the_store_is_back_replays_everything(
    store: Switchable, tmp_path: Path
) -> None:
    sink = SpoolingSink(store, Spool(tmp_path / "spool.sqlite3"), retry_initial_s=60.0)
    sink.start()
    store.down = True
    sink.write_batch([decision_record(n) for n in range(3)])  # the replay now waits a minute
    store.down = False

    sink.close()

    assert store.ids() == ["req_0", "req_1", "req_2"]
    with sqlite3.connect(tmp_path / "spool.sqlite3") as db:
        assert db.execute("SELECT COUNT(*) FROM spooled").fetchone() == (0,)


def test_overflow_goes_to_the_spool_and_is_replayed(store: Switchable, tmp_path: Path) -> None:
    sink = sink_over(store, tmp_path / "spool.sqlite3")
    sink.overflow(decision_record(1))
    assert sink.holds("req_1")

    sink.start()
    wait_until(lambda: sink.backlog == 0)
    sink.close()

    assert store.ids() == ["req_1"]


def test_a_record_the_store_refuses_is_set_aside_not_retried_forever(
    store: Switchable, tmp_path: Path
) -> None:
    path = tmp_path / "spool.sqlite3"
    sink = sink_over(store, path)
    store.refuse = {"req_2"}
    sink.write_batch([decision_record(n) for n in (1, 2, 3)])
    sink.start()

    wait_until(lambda: sink.backlog == 0)
    sink.close()

    assert store.ids() == ["req_1", "req_3"]
    with sqlite3.connect(path) as db:
        (row,) = db.execute("SELECT request_id, error FROM rejected").fetchall()
    assert row == ("req_2", "ValueError: a record this store cannot take")


def test_a_spool_row_from_another_version_is_set_aside(tmp_path: Path) -> None:
    path = tmp_path / "spool.sqlite3"
    spool = Spool(path)
    spool.append([decision_record(1)])
    spool.close()
    with sqlite3.connect(path) as db:
        db.execute("INSERT INTO spooled (request_id, record) VALUES ('req_x', '{}')")

    spool = Spool(path)
    oldest = spool.oldest(10)

    assert [record.request_id for _, record in oldest] == ["req_1"]
    assert len(spool) == 1
    spool.close()


def test_redis_killed_and_restarted_gets_every_record_once(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    store = RedisStore.from_url(redis_server.url, timeout_s=0.5)
    sink = sink_over(store, tmp_path / "spool.sqlite3")
    sink.start()
    sink.write_batch([decision_record(n) for n in range(100)])
    redis_server.kill()
    sink.write_batch([decision_record(n) for n in range(100, 200)])
    assert sink.backlog == 100

    redis_server.start()
    wait_until(lambda: sink.backlog == 0)
    sink.close()

    ids = [logged.record.request_id for logged in store.logged()]
    assert ids == [f"req_{n}" for n in range(200)]
    store.close()
