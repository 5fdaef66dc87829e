"""What every store does, on SQLite and on Redis: round trips, idempotency, feedback, windows."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest

from records import Feedback, Verifier
from router.log.store.base import DecisionStore
from tests.router.conftest import RECORD_START, decision_record


def feedback(
    n: int, request_id: str = "req_1", key: str | None = None, **fields: object
) -> Feedback:
    data: dict[str, object] = {
        "id": f"fb_{n}",
        "request_id": request_id,
        "time": RECORD_START + timedelta(minutes=n),
        "outcome": "success",
        "idempotency_key": key,
    }
    return Feedback.model_validate(data | fields)


def test_a_record_comes_back_with_every_field(store: DecisionStore) -> None:
    record = decision_record(1)
    store.append_decisions([record])

    (logged,) = store.logged()

    assert logged.record == record
    assert logged.record.model_dump() == record.model_dump()
    assert logged.feedback == []
    vector = np.frombuffer(logged.record.embedding, dtype="<f2")
    assert vector.shape == (384,)


def test_a_record_without_its_prompt_keeps_hash_embedding_and_features(
    store: DecisionStore,
) -> None:
    record = decision_record(1, prompt=None)
    store.append_decisions([record])

    (logged,) = store.logged()

    assert logged.record.prompt is None
    assert logged.record.prompt_hash == record.prompt_hash
    assert logged.record.embedding == record.embedding
    assert logged.record.features == record.features


def test_writing_a_record_twice_stores_it_once(store: DecisionStore) -> None:
    first, second = decision_record(1), decision_record(2)
    store.append_decisions([first, second])
    store.append_decisions([second, first, decision_record(3)])

    ids = [logged.record.request_id for logged in store.logged()]

    assert ids == ["req_1", "req_2", "req_3"]


def test_has_decision_knows_stored_ids_only(store: DecisionStore) -> None:
    store.append_decisions([decision_record(1)])

    assert store.has_decision("req_1")
    assert not store.has_decision("req_2")


def test_feedback_joins_its_decision_oldest_first(store: DecisionStore) -> None:
    store.append_decisions([decision_record(1), decision_record(2)])
    later = feedback(2, verifier=Verifier(name="unit-tests", passed=False), outcome=None)
    earlier = feedback(1, rating=0.5, source="user")
    for event in (later, earlier, feedback(3, request_id="req_2", outcome="failure")):
        store.append_feedback(event)

    by_id = {logged.record.request_id: logged.feedback for logged in store.logged()}

    assert by_id["req_1"] == [earlier, later]
    assert [event.outcome for event in by_id["req_2"]] == ["failure"]


def test_feedback_with_a_known_idempotency_key_returns_the_stored_event(
    store: DecisionStore,
) -> None:
    store.append_decisions([decision_record(1)])
    first = store.append_feedback(feedback(1, key="key-1"))

    again = store.append_feedback(feedback(2, key="key-1", outcome="failure"))
    other = store.append_feedback(feedback(3, key="key-2"))

    assert again == first
    (logged,) = store.logged()
    assert [event.id for event in logged.feedback] == ["fb_1", "fb_3"]
    assert other.id == "fb_3"


def test_feedback_without_a_key_is_always_stored(store: DecisionStore) -> None:
    store.append_decisions([decision_record(1)])
    store.append_feedback(feedback(1))
    store.append_feedback(feedback(2))

    (logged,) = store.logged()

    assert len(logged.feedback) == 2


def test_logged_keeps_since_and_drops_until(store: DecisionStore) -> None:
    store.append_decisions([decision_record(n) for n in range(10)])
    since, until = RECORD_START + timedelta(seconds=3), RECORD_START + timedelta(seconds=7)

    ids = [logged.record.request_id for logged in store.logged(since, until)]

    assert ids == ["req_3", "req_4", "req_5", "req_6"]
    assert len(list(store.logged(since=since))) == 7
    assert len(list(store.logged(until=until))) == 7


@pytest.mark.parametrize("count", [1, 499, 500, 501, 1203])
def test_logged_reads_every_page(store: DecisionStore, count: int) -> None:
    store.append_decisions([decision_record(n) for n in range(count)])

    ids = [logged.record.request_id for logged in store.logged()]

    assert sorted(ids) == sorted(f"req_{n}" for n in range(count))
