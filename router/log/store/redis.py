"""The Redis decision log: streams that several router processes and log readers share.

    store = RedisStore.from_url("redis://127.0.0.1:6379/0", prefix="router")

Keys, under ``prefix`` (``ROUTER_REDIS_PREFIX``, by default ``router``):

    <prefix>:decisions      stream, one entry per decision: request_id, record (the record's
                            JSON without its embedding), embedding (float16 bytes)
    <prefix>:feedback       stream, one entry per feedback event: request_id, feedback (JSON)
    <prefix>:decision-ids   hash: request id -> id of its entry in <prefix>:decisions
    <prefix>:feedback-keys  hash: idempotency key -> the feedback event stored under it (JSON)

**Idempotent writes.** A decision is added by a Lua script that, atomically, skips a request id
already in ``<prefix>:decision-ids`` or else XADDs the entry and notes its id. So a record
replayed from the spool after a write whose answer was lost (Redis killed mid-reply) is stored
once, and the hash is also the index ``has_decision`` reads (feedback's 404). It lives as long
as the stream: about 100 bytes a decision beside an entry of about 2 KB. Feedback with an
idempotency key goes through a like script against ``<prefix>:feedback-keys``. The scripts
start with ``#!lua``, so a Redis out of memory (``noeviction``) refuses them whole rather than
running them half-way. Reads dedupe by request id too, so an entry written by other means
still counts once.

**Reading.** ``StreamConsumer`` reads a stream as one consumer of a consumer group (XREADGROUP,
XACK, XAUTOCLAIM), so several export or retraining workers share a stream with at-least-once
delivery: an entry goes to one consumer; if it is not acknowledged (the worker died) it goes
again, to the same consumer when it comes back or to another once it has been idle
``claim_idle_ms``. ``RedisStore.logged`` (``router logs export``) reads both streams whole with
XRANGE, a page at a time: a read keeps no state in Redis, so an export that is killed leaves
nothing behind and consumer groups are not disturbed.

Every ``redis.RedisError`` becomes a ``DecisionLogError`` (the cause kept): the spool keeps the
records and tries again.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

import redis
from redis.backoff import NoBackoff
from redis.exceptions import ResponseError
from redis.retry import Retry

from records import DecisionRecord, Feedback
from router.errors import DecisionLogError
from router.log.store.base import DecisionStore, Known, Logged, in_window

__all__ = ["RedisStore", "StreamConsumer", "StreamEntry", "open_client", "translated_errors"]


READ_BATCH: Final = 500
CLAIM_IDLE_MS: Final = 60_000

_ADD_DECISION: Final = """#!lua
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then
  return 0
end
local id = redis.call('XADD', KEYS[2], '*', 'request_id', ARGV[1], 'record', ARGV[2],
                      'embedding', ARGV[3])
redis.call('HSET', KEYS[1], ARGV[1], id)
return 1
"""

_ADD_FEEDBACK: Final = """#!lua
if ARGV[2] ~= '' then
  local stored = redis.call('HGET', KEYS[1], ARGV[2])
  if stored then
    return stored
  end
end
redis.call('XADD', KEYS[2], '*', 'request_id', ARGV[1], 'feedback', ARGV[3])
if ARGV[2] ~= '' then
  redis.call('HSET', KEYS[1], ARGV[2], ARGV[3])
end
return ARGV[3]
"""


def open_client(url: str, timeout_s: float) -> redis.Redis:
    """A client on ``url`` whose calls fail after ``timeout_s`` rather than hang; a broken
    connection (Redis restarted) is retried once, on a new one."""
    return redis.Redis.from_url(
        url,
        socket_timeout=timeout_s,
        socket_connect_timeout=timeout_s,
        retry=Retry(NoBackoff(), 1),
    )


@contextmanager
def translated_errors(what: str) -> Iterator[None]:
    """Redis's errors as ``DecisionLogError`` saying what failed, the cause kept."""
    try:
        yield
    except redis.RedisError as exc:
        raise DecisionLogError(f"Redis: {what}: {exc}") from exc


@dataclass(frozen=True)
class StreamEntry:
    """One stream entry: its id and its fields (bytes, as Redis holds them)."""

    id: str
    fields: dict[bytes, bytes]


class StreamConsumer:
    """One consumer in a consumer group of a stream: each entry to one consumer, at least once.

        consumer = StreamConsumer(client, "router:decisions", group="retrain", name="worker-1")
        consumer.create_group()
        while batch := consumer.read():
            handle(batch)             # idempotently: an entry may come more than once
            consumer.ack(batch)

    ``read`` returns, in this order: entries given to this consumer earlier and never
    acknowledged (after a restart), entries other consumers left unacknowledged for
    ``claim_idle_ms`` (they died), then new entries.
    """

    def __init__(
        self,
        client: redis.Redis,
        stream: str,
        group: str,
        name: str,
        *,
        claim_idle_ms: int = CLAIM_IDLE_MS,
    ) -> None:
        self.client = client
        self.stream = stream
        self.group = group
        self.name = name
        self.claim_idle_ms = claim_idle_ms
        self._history = True
        self._claim_from = "0-0"

    def create_group(self, start: str = "0") -> None:
        """Create the group (and the stream) if missing; a new group starts after ``start``."""
        try:
            self.client.xgroup_create(self.stream, self.group, id=start, mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    def destroy_group(self) -> None:
        self.client.xgroup_destroy(self.stream, self.group)

    def read(self, count: int = READ_BATCH, block_ms: int | None = None) -> list[StreamEntry]:
        """Up to ``count`` entries (see the class docstring); empty when there is nothing,
        after waiting up to ``block_ms`` for new entries if given."""
        if self._history:
            entries = self._read_group("0", count, None)
            if entries:
                return entries
            self._history = False
        claimed = self._claim(count)
        if claimed:
            return claimed
        return self._read_group(">", count, block_ms)

    def ack(self, entries: Sequence[StreamEntry]) -> int:
        """Mark ``entries`` done for the group; the number Redis had pending."""
        if not entries:
            return 0
        return int(self.client.xack(self.stream, self.group, *(entry.id for entry in entries)))

    def _read_group(self, start: str, count: int, block_ms: int | None) -> list[StreamEntry]:
        reply: Any = self.client.xreadgroup(
            self.group, self.name, {self.stream: start}, count=count, block=block_ms
        )
        entries = _entries(reply[0][1]) if reply else []
        deleted = [entry for entry in entries if not entry.fields]
        if deleted:  # trimmed or deleted while pending: nothing to hand out
            self.ack(deleted)
        return [entry for entry in entries if entry.fields]

    def _claim(self, count: int) -> list[StreamEntry]:
        reply: Any = self.client.xautoclaim(
            self.stream,
            self.group,
            self.name,
            min_idle_time=self.claim_idle_ms,
            start_id=self._claim_from,
            count=count,
        )
        cursor, claimed = reply[0], reply[1]
        self._claim_from = cursor.decode() if isinstance(cursor, bytes) else str(cursor)
        return [entry for entry in _entries(claimed) if entry.fields]


def _entries(raw: Sequence[Any]) -> list[StreamEntry]:
    return [
        StreamEntry(entry_id.decode() if isinstance(entry_id, bytes) else entry_id, fields or {})
        for entry_id, fields in raw
    ]


class RedisStore(DecisionStore):
    """Decisions and feedback in two Redis streams (see the module docstring)."""

    def __init__(self, client: redis.Redis, prefix: str = "router") -> None:
        self.client = client
        self.prefix = prefix
        self.decisions_key = f"{prefix}:decisions"
        self.feedback_key = f"{prefix}:feedback"
        self.decision_ids_key = f"{prefix}:decision-ids"
        self.feedback_keys_key = f"{prefix}:feedback-keys"
        self._add_decision = client.register_script(_ADD_DECISION)
        self._add_feedback = client.register_script(_ADD_FEEDBACK)

    @classmethod
    def from_url(cls, url: str, *, prefix: str = "router", timeout_s: float = 1.0) -> RedisStore:
        """A store on ``open_client(url, timeout_s)``."""
        return cls(open_client(url, timeout_s), prefix)

    def append_decisions(self, records: Sequence[DecisionRecord]) -> None:
        with translated_errors(f"adding {len(records)} decisions to {self.decisions_key}"):
            pipe = self.client.pipeline(transaction=False)
            for record in records:
                self._add_decision(
                    keys=[self.decision_ids_key, self.decisions_key],
                    args=[
                        record.request_id,
                        record.model_dump_json(exclude={"embedding"}),
                        record.embedding,
                    ],
                    client=pipe,
                )
            pipe.execute()

    def append_feedback(self, feedback: Feedback) -> Feedback:
        with translated_errors(f"adding feedback to {self.feedback_key}"):
            stored = self._add_feedback(
                keys=[self.feedback_keys_key, self.feedback_key],
                args=[
                    feedback.request_id,
                    feedback.idempotency_key or "",
                    feedback.model_dump_json(),
                ],
            )
        return Feedback.model_validate_json(stored)

    def has_decision(self, request_id: str) -> bool:
        with translated_errors(f"looking up {request_id} in {self.decision_ids_key}"):
            return bool(self.client.hexists(self.decision_ids_key, request_id))

    def decision_key(self, request_id: str) -> Known | None:
        with translated_errors(f"looking up {request_id} in {self.decision_ids_key}"):
            entry_id = self.client.hget(self.decision_ids_key, request_id)
            if entry_id is None:
                return None
            entries = self.client.xrange(self.decisions_key, entry_id, entry_id, count=1)
        fields = entries[0][1] if entries else None
        if not fields:  # trimmed from the stream since
            return Known(None)
        record = json.loads(fields[b"record"])
        key_id = record.get("key_id") if isinstance(record, dict) else None
        return Known(key_id if isinstance(key_id, str) else None)

    def logged(
        self, since: datetime | None = None, until: datetime | None = None
    ) -> Iterator[Logged]:
        """In stream order (the order records reached Redis: a replayed record comes after
        those written while it waited in the spool), each request id once."""
        feedback = self._all_feedback()
        seen: set[str] = set()
        for entry in self._read_all(self.decisions_key):
            request_id = entry.fields[b"request_id"].decode()
            if request_id in seen:
                continue
            seen.add(request_id)
            record = _record(entry.fields)
            if in_window(record.time, since, until):
                yield Logged(record, feedback.get(request_id, []))

    def close(self) -> None:
        self.client.close()

    def _all_feedback(self) -> dict[str, list[Feedback]]:
        by_request: defaultdict[str, dict[str, Feedback]] = defaultdict(dict)
        for entry in self._read_all(self.feedback_key):
            event = Feedback.model_validate_json(entry.fields[b"feedback"])
            by_request[event.request_id].setdefault(event.id, event)
        return {
            request_id: sorted(events.values(), key=lambda event: event.time)
            for request_id, events in by_request.items()
        }

    def _read_all(self, stream: str) -> Iterator[StreamEntry]:
        """Every entry of ``stream``, oldest first, ``READ_BATCH`` at a time."""
        start = "-"
        while True:
            with translated_errors(f"reading {stream}"):
                page: Any = self.client.xrange(stream, min=start, max="+", count=READ_BATCH)
            entries = _entries(page)
            yield from (entry for entry in entries if entry.fields)
            if len(entries) < READ_BATCH:
                return
            start = f"({entries[-1].id}"  # exclusive: after the last entry read


def _record(fields: dict[bytes, bytes]) -> DecisionRecord:
    data = json.loads(fields[b"record"])
    data["embedding"] = fields[b"embedding"]
    return DecisionRecord.model_validate(data)
