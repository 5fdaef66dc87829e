"""DecisionRecorder and LoggingSink: records leave the request path and reach the sink."""

from __future__ import annotations

import json
import logging
import threading
from datetime import UTC, datetime

import pytest

from router.decision_log import DECISIONS_LOGGER, DecisionRecorder, LoggingSink
from router.records import Budget, DecisionRecord, Strategy


def record(request_id: str = "req_1") -> DecisionRecord:
    return DecisionRecord(
        request_id=request_id,
        time=datetime(2026, 11, 29, tzinfo=UTC),
        requested_model="auto",
        stream=False,
        prompt_hash="ab" * 32,
        score=0.4,
        tier="fast",
        model="openai/fast-model",
        budget=Budget(effort="none", max_tokens=256),
        strategy=Strategy(samples=1, select="first"),
        classifier_version="v1",
        policy_version="p1",
        choice_probability=1.0,
        decision_ms=1.5,
        latency_ms=20.0,
        status="ok",
    )


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


def test_a_full_queue_drops_the_record_and_says_so() -> None:
    sink, dropped = GatedSink(), []
    recorder = DecisionRecorder(sink, capacity=1, on_drop=lambda: dropped.append(1))
    recorder.start()
    recorder.submit(record("req_1"))  # taken by the worker, which waits at the gate
    while not recorder._queue.empty():
        threading.Event().wait(0.01)
    accepted = [recorder.submit(record(f"req_{n}")) for n in (2, 3)]
    sink.gate.set()
    recorder.close()

    assert accepted == [True, False]
    assert dropped == [1]
    assert sink.written == ["req_1", "req_2"]


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
