"""POST /v1/feedback through the real app: stored, joined, idempotent, and refused clearly."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from records import DecisionRecord
from router.log.store.sqlite import SQLiteStore
from tests.redis_fixtures import RedisServer
from tests.router.service.api.conftest import MakeClient, user
from tests.waiting import wait_until


def chat(client: TestClient, text: str = "What is the capital of Italy?") -> str:
    response = client.post("/v1/chat/completions", json={"model": "auto", "messages": user(text)})
    assert response.status_code == 200, response.text
    return response.headers["x-router-request-id"]


def send(client: TestClient, body: Any, key: str | None = None) -> httpx.Response:
    headers = {} if key is None else {"Idempotency-Key": key}
    return client.post("/v1/feedback", json=body, headers=headers)


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def client(make_client: MakeClient, data_dir: Path) -> TestClient:
    """The service with its real decision log: SQLite in ``data_dir``."""
    return make_client(sink=None, data_dir=data_dir)


def stored_feedback(data_dir: Path, request_id: str) -> list[dict[str, Any]]:
    """The feedback stored on ``request_id``, once its record is in the store.

    Feedback is stored before the response, but the request's record is written off the request
    path (the recorder's queue), so on a busy machine it may land a moment after both responses.
    """
    return wait_until(
        lambda: _logged_feedback(data_dir).get(request_id), what=f"{request_id} in the store"
    )


def _logged_feedback(data_dir: Path) -> dict[str, list[dict[str, Any]]]:
    store = SQLiteStore(data_dir / "decisions.sqlite3")
    try:
        return {
            logged.record.request_id: [event.model_dump(mode="json") for event in logged.feedback]
            for logged in store.logged()
        }
    finally:
        store.close()


def test_feedback_is_stored_and_joins_its_request(client: TestClient, data_dir: Path) -> None:
    request_id = chat(client)

    response = send(
        client,
        {
            "request_id": request_id,
            "outcome": "success",
            "rating": 0.5,
            "verifier": {"name": "unit-tests", "passed": True},
            "source": "ci",
        },
    )

    assert response.status_code == 200
    body = response.json()
    assert body["object"] == "feedback"
    assert body["id"].startswith("fb_")
    assert (body["request_id"], body["outcome"], body["rating"]) == (request_id, "success", 0.5)
    assert body["verifier"] == {"name": "unit-tests", "passed": True}
    assert body["source"] == "ci"
    assert stored_feedback(data_dir, request_id)[0]["id"] == body["id"]


def test_several_events_on_one_request_are_all_kept(client: TestClient, data_dir: Path) -> None:
    request_id = chat(client)
    for body in ({"rating": -1}, {"outcome": "failure"}, {"rating": 1.0, "source": "user"}):
        assert send(client, {"request_id": request_id, **body}).status_code == 200

    events = stored_feedback(data_dir, request_id)

    assert [(e["rating"], e["outcome"]) for e in events] == [
        (-1.0, None),
        (None, "failure"),
        (1.0, None),
    ]


def test_the_same_idempotency_key_gets_the_same_response_and_one_event(
    client: TestClient, data_dir: Path
) -> None:
    request_id = chat(client)
    body = {"request_id": request_id, "outcome": "failure"}

    first, second = send(client, body, key="retry-1"), send(client, body, key="retry-1")
    third = send(client, body, key="retry-2")

    assert first.status_code == second.status_code == third.status_code == 200
    assert first.json() == second.json()
    assert third.json()["id"] != first.json()["id"]
    assert len(stored_feedback(data_dir, request_id)) == 2


def test_an_idempotency_key_reused_for_other_feedback_is_a_409(client: TestClient) -> None:
    request_id = chat(client)
    send(client, {"request_id": request_id, "outcome": "failure"}, key="k")

    response = send(client, {"request_id": request_id, "outcome": "success"}, key="k")

    assert response.status_code == 409
    error = response.json()["error"]
    assert (error["code"], error["param"]) == ("IdempotencyKeyReusedError", "Idempotency-Key")


def test_an_unknown_request_id_is_a_404(client: TestClient) -> None:
    response = send(client, {"request_id": "req_nobody", "outcome": "success"})

    assert response.status_code == 404
    assert response.json() == {
        "error": {
            "message": "no logged request has id 'req_nobody' (it is the x-router-request-id"
            " header of a chat completion)",
            "type": "invalid_request_error",
            "param": "request_id",
            "code": "UnknownRequestError",
        }
    }


@pytest.mark.parametrize(
    ("body", "param", "words"),
    [
        ({"rating": 1.5}, "rating", "less than or equal to 1"),
        ({"rating": -2}, "rating", "greater than or equal to -1"),
        ({"rating": "0.5"}, "rating", "valid number"),
        ({"rating": True}, "rating", "valid number"),
        ({"outcome": "great"}, "outcome", "'success' or 'failure'"),
        ({"outcome": 1}, "outcome", "'success' or 'failure'"),
        ({"verifier": {"name": "ci", "passed": "yes"}}, "verifier.passed", "valid boolean"),
        ({"verifier": {"passed": True}}, "verifier.name", "missing required parameter"),
        ({"verifier": "ci"}, "verifier", "valid dictionary"),
        ({"source": 7, "rating": 1}, "source", "valid string"),
        ({}, "outcome", "at least one of 'outcome'"),
        ({"rating": 1, "comment": "nice"}, "comment", "unrecognized request argument"),
    ],
)
def test_a_bad_body_is_a_400_naming_the_field(
    client: TestClient, body: dict[str, Any], param: str, words: str
) -> None:
    request_id = chat(client)

    response = send(client, {"request_id": request_id, **body})

    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert (error["type"], error["param"]) == ("invalid_request_error", param)
    assert words in error["message"]


@pytest.mark.parametrize(
    ("body", "param"),
    [({}, "request_id"), ({"request_id": 12, "rating": 1}, "request_id"), ([], None)],
)
def test_a_body_without_a_usable_request_id_is_a_400(
    client: TestClient, body: Any, param: str | None
) -> None:
    response = send(client, body)

    assert response.status_code == 400
    assert response.json()["error"]["param"] == param


def test_an_empty_body_is_a_400(client: TestClient) -> None:
    response = client.post("/v1/feedback", content=b"")

    assert response.status_code == 400
    assert response.json()["error"]["message"] == "the request needs a JSON object body"


class HeldSink:
    """Takes records only once ``gate`` is set: they stay queued until then."""

    def __init__(self) -> None:
        self.gate = threading.Event()
        self.records: list[DecisionRecord] = []

    def write(self, record: DecisionRecord) -> None:
        self.gate.wait(10.0)
        self.records.append(record)

    def close(self) -> None:
        pass


def test_feedback_on_a_request_whose_record_is_still_queued_is_accepted(
    make_client: MakeClient, data_dir: Path
) -> None:
    sink = HeldSink()
    client = make_client(sink=sink, data_dir=data_dir)
    try:
        request_id = chat(client)
        response = send(client, {"request_id": request_id, "rating": 1})
    finally:
        sink.gate.set()

    assert response.status_code == 200
    assert response.json()["request_id"] == request_id


def test_feedback_while_redis_is_down_is_a_503_to_retry(
    make_client: MakeClient, data_dir: Path, redis_server: RedisServer
) -> None:
    client = make_client(sink=None, data_dir=data_dir, redis_url=redis_server.url)
    request_id = chat(client)
    redis_server.kill()

    response = send(client, {"request_id": "req_other", "outcome": "success"}, key="k")
    redis_server.start()
    retried = send(client, {"request_id": request_id, "outcome": "success"}, key="k")

    assert response.status_code == 503
    error = response.json()["error"]
    assert (error["type"], error["code"]) == ("decision_log_unavailable", "DecisionLogError")
    assert retried.status_code == 200
