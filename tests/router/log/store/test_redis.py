"""The Redis store's layout, and StreamConsumer: consumer groups shared by several readers."""

from __future__ import annotations

import time

import pytest
import redis

from records import Feedback
from router.errors import DecisionLogError
from router.log.store.redis import READ_BATCH, RedisStore, StreamConsumer
from tests.redis_fixtures import RedisServer
from tests.router.conftest import RECORD_START, decision_record


def test_records_are_stream_entries_with_a_compact_embedding(redis_server: RedisServer) -> None:
    store = RedisStore.from_url(redis_server.url, prefix="log")
    record = decision_record(1)
    store.append_decisions([record])

    client = redis_server.client()
    ((entry_id, fields),) = client.xrange("log:decisions")
    assert fields[b"request_id"] == b"req_1"
    assert fields[b"embedding"] == record.embedding
    assert len(fields[b"embedding"]) == 2 * 384
    assert b"embedding" not in fields[b"record"]
    assert client.hget("log:decision-ids", "req_1") == entry_id
    store.close()


def test_a_stream_entry_written_twice_by_hand_is_read_once(redis_server: RedisServer) -> None:
    store = RedisStore.from_url(redis_server.url)
    record = decision_record(1)
    store.append_decisions([record])
    client = redis_server.client()
    ((_, fields),) = client.xrange("router:decisions")
    client.xadd("router:decisions", fields)  # a duplicate the scripts would not write

    assert [logged.record for logged in store.logged()] == [record]
    store.close()


def test_a_read_pages_through_the_whole_stream_and_leaves_no_state(
    redis_server: RedisServer,
) -> None:
    store = RedisStore.from_url(redis_server.url)
    records = [decision_record(n) for n in range(2 * READ_BATCH + 1)]
    store.append_decisions(records)

    read = [logged.record.request_id for logged in store.logged()]

    assert read == [record.request_id for record in records]
    client = redis_server.client()
    assert client.xinfo_groups("router:decisions") == []
    assert client.xinfo_stream("router:decisions")["groups"] == 0
    store.close()


def test_feedback_idempotency_keys_live_in_a_hash(redis_server: RedisServer) -> None:
    store = RedisStore.from_url(redis_server.url)
    event = Feedback(
        id="fb_1", request_id="req_1", time=RECORD_START, rating=-1.0, idempotency_key="k"
    )
    store.append_feedback(event)
    store.append_feedback(event.model_copy(update={"id": "fb_2"}))

    client = redis_server.client()
    assert client.xlen("router:feedback") == 1
    assert Feedback.model_validate_json(client.hget("router:feedback-keys", "k")) == event
    store.close()


def test_an_unreachable_redis_is_a_decision_log_error(redis_server: RedisServer) -> None:
    store = RedisStore.from_url(redis_server.url, timeout_s=0.5)
    redis_server.kill()

    with pytest.raises(DecisionLogError, match="Redis: adding 1 decisions") as raised:
        store.append_decisions([decision_record(1)])
    with pytest.raises(DecisionLogError):
        store.has_decision("req_1")

    assert isinstance(raised.value.__cause__, redis.ConnectionError)
    assert raised.value.status_code == 503
    store.close()


def test_the_scripts_survive_a_restart_of_redis(redis_server: RedisServer) -> None:
    store = RedisStore.from_url(redis_server.url)
    store.append_decisions([decision_record(1)])
    redis_server.kill()
    redis_server.start()  # the script cache is empty now; the append-only file is not

    store.append_decisions([decision_record(1), decision_record(2)])

    assert [logged.record.request_id for logged in store.logged()] == ["req_1", "req_2"]
    store.close()


# --- StreamConsumer ---------------------------------------------------------------------------


def fill(client: redis.Redis, count: int) -> list[str]:
    return [client.xadd("jobs", {"n": str(n)}).decode() for n in range(count)]


def consumer(client: redis.Redis, name: str, claim_idle_ms: int = 60_000) -> StreamConsumer:
    reader = StreamConsumer(client, "jobs", "workers", name, claim_idle_ms=claim_idle_ms)
    reader.create_group()
    return reader


def test_two_consumers_share_the_entries_each_to_one(redis_server: RedisServer) -> None:
    client = redis_server.client()
    ids = fill(client, 100)
    first, second = consumer(client, "first"), consumer(client, "second")

    got: dict[str, list[str]] = {"first": [], "second": []}
    while True:
        batches = [(reader, reader.read(count=7)) for reader in (first, second)]
        if not any(batch for _, batch in batches):
            break
        for reader, batch in batches:
            got[reader.name] += [entry.id for entry in batch]
            reader.ack(batch)

    assert got["first"] and got["second"]
    assert set(got["first"]).isdisjoint(got["second"])
    assert sorted(got["first"] + got["second"]) == sorted(ids)
    assert client.xpending("jobs", "workers")["pending"] == 0


def test_entries_left_unacknowledged_go_to_another_consumer(redis_server: RedisServer) -> None:
    client = redis_server.client()
    ids = fill(client, 10)
    crashed, survivor = consumer(client, "crashed", 50), consumer(client, "survivor", 50)
    taken = crashed.read(count=4)  # and never acknowledged

    time.sleep(0.1)
    rest = survivor.read(count=10)
    survivor.ack(rest)
    new = survivor.read(count=10)
    survivor.ack(new)

    assert [entry.id for entry in rest] == [entry.id for entry in taken]
    assert [entry.id for entry in new] == ids[4:]
    assert client.xpending("jobs", "workers")["pending"] == 0


def test_a_consumer_that_comes_back_first_gets_its_own_pending_entries(
    redis_server: RedisServer,
) -> None:
    client = redis_server.client()
    ids = fill(client, 5)
    taken = consumer(client, "worker").read(count=2)  # the worker dies before its ack

    again = consumer(client, "worker")  # the same name, restarted
    first = again.read(count=10)
    again.ack(first)
    then = again.read(count=10)

    assert [entry.id for entry in first] == [entry.id for entry in taken] == ids[:2]
    assert [entry.id for entry in then] == ids[2:]
    assert dict(first[0].fields) == {b"n": b"0"}


def test_creating_a_group_twice_is_harmless(redis_server: RedisServer) -> None:
    client = redis_server.client()
    reader = consumer(client, "worker")
    reader.create_group()

    assert reader.read() == []
