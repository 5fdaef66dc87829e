"""DecisionRecorder, DecisionLog and LoggingSink: records leave the request path and reach the
sink; a full queue spills to the sink's overflow; feedback finds records wherever they are."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from records import DecisionRecord
from router.errors import IdempotencyKeyReusedError, UnknownRequestError
from router.log.decision_log import DECISIONS_LOGGER, DecisionLog, DecisionRecorder, LoggingSink
from router.log.store.spool import Spool, SpoolingSink
from router.log.store.sqlite import SQLiteStore
from tests.router.conftest import decision_record


def record(request_id: str = "req_1") -> DecisionRecord:
    return decision_record(request_id=request_id)


class GatedSink:
    """Writes only once ``gate`` is set, and notes the thread it wrote from."""

    def __init__(self) -> None:
        self.gate = threading.Event()
        self.written: list[str] = []
        self.threads: set[str] = set()
        self.closed = False

    def write(self, item: DecisionRecord) -> None:
        self.gate.wait(5.0)
        self.threads.add(threading.current_thread().name)
        self.written.append(item.request_id)

    def close(self) -> None:
        self.closed = True


def overfill(recorder: DecisionRecorder, sink: GatedSink) -> list[bool]:
    """Start ``recorder`` (capacity 1), let its worker take req_1 and wait at the sink's gate,
    then submit req_2 (which fills the queue) and req_3; what ``submit`` returned for those two,
    once the gate is open and the recorder closed."""
    recorder.start()
    recorder.submit(record("req_1"))
    wait_until_taken(recorder)
    accepted = [recorder.submit(record(f"req_{n}")) for n in (2, 3)]
    sink.gate.set()
    recorder.close()
    return accepted


def wait_until_taken(recorder: DecisionRecorder) -> None:
    """Until the worker has taken everything queued (and is busy writing it)."""
    while not recorder._queue.empty():
        threading.Event().wait(0.01)


def test_submit_returns_at_once_and_the_sink_writes_on_its_own_thread() -> None:
    sink = GatedSink()
    recorder = DecisionRecorder(sink)
    recorder.start()

    assert recorder.submit(record("req_1"))
    assert sink.written == []
    sink.gate.set()
    recorder.close()

    assert sink.written == ["req_1"]
    assert sink.threads == {"decision-recorder"}
    assert sink.closed


def test_a_full_queue_drops_the_record_and_says_so_when_the_sink_has_no_overflow() -> None:
    sink, dropped = GatedSink(), []
    recorder = DecisionRecorder(sink, capacity=1, on_drop=lambda: dropped.append(1))

    accepted = overfill(recorder, sink)

    assert accepted == [True, False]
    assert dropped == [1]
    assert sink.written == ["req_1", "req_2"]


class OverflowingSink(GatedSink):
    """A gated sink with an overflow, which notes the thread it was called on."""

    def __init__(self) -> None:
        super().__init__()
        self.overflowed: list[tuple[str, str]] = []

    def overflow(self, item: DecisionRecord) -> None:
        self.overflowed.append((item.request_id, threading.current_thread().name))


def test_a_full_queue_hands_the_record_to_the_overflow_off_the_callers_thread() -> None:
    sink, overflows, dropped = OverflowingSink(), [], []
    recorder = DecisionRecorder(
        sink,
        capacity=1,
        on_overflow=lambda: overflows.append(1),
        on_drop=lambda: dropped.append(1),
    )

    accepted = overfill(recorder, sink)

    assert accepted == [True, True]
    assert sink.overflowed == [("req_3", "decision-overflow")]
    assert (overflows, dropped) == ([1], [])
    assert sink.written == ["req_1", "req_2"]


def test_submit_never_waits_for_a_slow_overflow() -> None:
    class Stuck(OverflowingSink):
        def __init__(self) -> None:
            super().__init__()
            self.release = threading.Event()

        def overflow(self, item: DecisionRecord) -> None:
            self.release.wait(5.0)  # as the spool waits for the lock its replay holds
            super().overflow(item)

    sink = Stuck()
    recorder = DecisionRecorder(sink, capacity=1)
    recorder.start()
    recorder.submit(record("req_1"))
    wait_until_taken(recorder)
    recorder.submit(record("req_2"))
    started = time.monotonic()
    accepted = [recorder.submit(record(f"req_{n}")) for n in range(3, 8)]
    waited = time.monotonic() - started

    assert accepted == [True] * 5 and waited < 0.5
    assert recorder.holds("req_5"), "feedback still finds a record waiting to overflow"
    sink.release.set()
    sink.gate.set()
    recorder.close()
    assert [name for name, _ in sink.overflowed] == [f"req_{n}" for n in range(3, 8)]


def test_a_failing_overflow_is_a_counted_drop(caplog: pytest.LogCaptureFixture) -> None:
    class Broken(OverflowingSink):
        def overflow(self, item: DecisionRecord) -> None:
            raise OSError("disk full")

    sink, dropped = Broken(), []
    recorder = DecisionRecorder(sink, capacity=1, on_drop=lambda: dropped.append(1))

    accepted = overfill(recorder, sink)

    assert accepted == [True, True]  # handed to the overflow thread, which then fails
    assert dropped == [1]
    assert "overflow failed on req_3" in caplog.text


def test_a_batch_sink_gets_what_was_queued_together() -> None:
    class Batches(GatedSink):
        def __init__(self) -> None:
            super().__init__()
            self.batches: list[list[str]] = []

        def write_batch(self, items: list[DecisionRecord]) -> None:
            self.gate.wait(5.0)
            self.batches.append([item.request_id for item in items])

    sink = Batches()
    recorder = DecisionRecorder(sink, batch_size=3)
    recorder.start()
    recorder.submit(record("req_0"))  # the worker takes it alone, then waits at the gate
    wait_until_taken(recorder)
    for n in range(1, 6):
        recorder.submit(record(f"req_{n}"))
    sink.gate.set()
    recorder.close()

    assert sink.batches == [["req_0"], ["req_1", "req_2", "req_3"], ["req_4", "req_5"]]


def test_the_recorder_holds_a_request_id_until_its_record_is_written() -> None:
    sink = GatedSink()
    recorder = DecisionRecorder(sink)
    recorder.start()
    recorder.submit(record("req_1"))

    assert recorder.holds("req_1")
    sink.gate.set()
    recorder.close()
    assert not recorder.holds("req_1")


def test_a_failing_sink_does_not_stop_the_records_that_follow(
    caplog: pytest.LogCaptureFixture,
) -> None:
    class Flaky:
        def __init__(self) -> None:
            self.written: list[str] = []

        def write(self, item: DecisionRecord) -> None:
            if item.request_id == "req_bad":
                raise OSError("disk full")
            self.written.append(item.request_id)

        def close(self) -> None:
            pass

    sink = Flaky()
    recorder = DecisionRecorder(sink)
    recorder.start()
    for request_id in ("req_bad", "req_good"):
        recorder.submit(record(request_id))
    recorder.close()

    assert sink.written == ["req_good"]
    assert "failed to write record req_bad" in caplog.text


def test_the_logging_sink_writes_one_json_line_per_record(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.INFO, logger=DECISIONS_LOGGER):
        LoggingSink().write(record("req_7"))

    (line,) = caplog.records
    assert line.name == DECISIONS_LOGGER
    assert "\n" not in line.getMessage()
    assert DecisionRecord.model_validate(json.loads(line.getMessage())) == record("req_7")


# --- DecisionLog ---------------------------------------------------------------------------


@pytest.fixture
def log(tmp_path: Path) -> Iterator[DecisionLog]:
    store = SQLiteStore(tmp_path / "decisions.sqlite3")
    spooling = SpoolingSink(store, Spool(tmp_path / "spool.sqlite3"))
    sink = GatedBatches(spooling)
    decision_log = DecisionLog(DecisionRecorder(sink), store, spooling)
    decision_log.start()
    yield decision_log
    sink.gate.set()
    decision_log.close()


class GatedBatches:
    """Passes records to a spooling sink once ``gate`` is set."""

    def __init__(self, inner: SpoolingSink) -> None:
        self.inner = inner
        self.gate = threading.Event()

    def write(self, item: DecisionRecord) -> None:
        self.gate.wait(5.0)
        self.inner.write(item)

    def close(self) -> None:
        self.inner.close()


def test_the_log_knows_a_record_while_queued_spooled_or_stored(log: DecisionLog) -> None:
    assert log.spooling is not None
    log.recorder.submit(record("req_queued"))
    log.spooling.spool.append([record("req_spooled")])
    log.store.append_decisions([record("req_stored")])

    known = {name: log.knows(f"req_{name}") for name in ("queued", "spooled", "stored", "other")}

    assert known == {"queued": True, "spooled": True, "stored": True, "other": False}


def test_feedback_on_a_queued_record_is_accepted(log: DecisionLog) -> None:
    log.recorder.submit(record("req_1"))

    event = log.add_feedback("req_1", outcome="success")

    assert (event.request_id, event.outcome) == ("req_1", "success")
    assert event.id.startswith("fb_")


def test_feedback_on_an_unknown_request_is_refused(log: DecisionLog) -> None:
    with pytest.raises(UnknownRequestError, match="no logged request has id 'req_9'") as raised:
        log.add_feedback("req_9", rating=1.0)

    assert (raised.value.status_code, raised.value.param) == (404, "request_id")


def test_an_idempotency_key_returns_the_first_event_or_refuses_other_content(
    log: DecisionLog,
) -> None:
    log.store.append_decisions([record("req_1")])
    first = log.add_feedback("req_1", rating=0.5, idempotency_key="k1")

    again = log.add_feedback("req_1", rating=0.5, idempotency_key="k1")
    with pytest.raises(IdempotencyKeyReusedError, match="'k1' was used for other feedback"):
        log.add_feedback("req_1", rating=-0.5, idempotency_key="k1")

    assert again == first
