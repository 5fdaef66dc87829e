"""Where the fleet's policy lives, and how a change reaches every replica.

    home = open_policy_home(settings)
    document = home.read()                          # the policy every replica should serve
    before = home.replace(if_match, document, on_commit=audit)   # compare-and-set, 412 if stale
    home.announce(document)                         # Redis: tell the replicas now

**Embedded** (no ``redis_url``): the policy file (``policy_path``) is the truth. A change is
written atomically (a temporary file renamed over it) under an exclusive lock on
``<file>.lock``, so two admins on two processes cannot both win; replicas on the host follow the
file (``router.policy_sync.PolicyFileWatcher``).

**Redis**: the key ``<prefix>:policy`` holds the applied policy's text (until the first apply,
the policy file is the truth); a change is a ``WATCH``/``MULTI`` compare-and-set on it, then a
message on the channel ``<prefix>:policy``, on which every replica reads the key and switches.
A replica that starts later reads the key too.
"""

from __future__ import annotations

import fcntl
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Protocol

import redis

from classifiers.files import atomic_text
from router.errors import DecisionLogError, PreconditionFailedError, PreconditionRequiredError
from router.ops.policy_file import PolicyDocument, document_from_text, read_document
from router.settings import Settings

__all__ = [
    "FileHome",
    "PolicyHome",
    "RedisHome",
    "check_if_match",
    "open_policy_home",
    "policy_channel",
    "policy_key",
]

logger = logging.getLogger(__name__)

OnCommit = Callable[[PolicyDocument], None]


def policy_key(prefix: str) -> str:
    return f"{prefix}:policy"


def policy_channel(prefix: str) -> str:
    return f"{prefix}:policy"


def check_if_match(if_match: str | None, current: PolicyDocument) -> None:
    """412 unless ``if_match`` names ``current`` (``*`` matches any); 428 when missing."""
    if if_match is None or not if_match.strip():
        raise PreconditionRequiredError(
            "a policy change needs If-Match: the ETag from GET /admin/policy, so that a change"
            " made from a stale view is refused"
        )
    tags = {tag.strip().removeprefix("W/") for tag in if_match.split(",")}
    if "*" not in tags and current.etag not in tags:
        raise PreconditionFailedError(
            f"If-Match {if_match} is stale: the policy is now version {current.version}"
            f" (ETag {current.etag}); GET /admin/policy again and redo the change"
        )


class PolicyHome(Protocol):
    def read(self) -> PolicyDocument: ...

    def replace(
        self, if_match: str | None, document: PolicyDocument, on_commit: OnCommit
    ) -> PolicyDocument:
        """Put ``document`` in place of the current policy if ``if_match`` names it; call
        ``on_commit(before)`` just before the write; the policy it replaced."""
        ...

    def announce(self, document: PolicyDocument) -> None: ...

    def close(self) -> None: ...


class FileHome:
    def __init__(self, path: Path) -> None:
        self.path = path

    def read(self) -> PolicyDocument:
        return read_document(self.path)

    def replace(
        self, if_match: str | None, document: PolicyDocument, on_commit: OnCommit
    ) -> PolicyDocument:
        with self._locked():
            before = self.read()
            check_if_match(if_match, before)
            on_commit(before)
            with atomic_text(self.path) as handle:
                handle.write(document.text)
        return before

    def announce(self, document: PolicyDocument) -> None:
        """Nothing to send: replicas watch the file."""

    def close(self) -> None:
        pass

    @contextmanager
    def _locked(self) -> Iterator[None]:
        lock = self.path.with_name(self.path.name + ".lock")
        with lock.open("a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)


class RedisHome:
    def __init__(self, client: redis.Redis, prefix: str, fallback: Path) -> None:
        self.client = client
        self.key = policy_key(prefix)
        self.channel = policy_channel(prefix)
        self.fallback = fallback

    def read(self) -> PolicyDocument:
        with _redis_errors(self.key):
            text = self.client.get(self.key)
        return self._document(text)

    def _document(self, text: object) -> PolicyDocument:
        if text is None:
            return read_document(self.fallback)
        assert isinstance(text, bytes)
        return document_from_text(text.decode("utf-8"), f"redis:{self.key}")

    def replace(
        self, if_match: str | None, document: PolicyDocument, on_commit: OnCommit
    ) -> PolicyDocument:
        with _redis_errors(self.key), self.client.pipeline() as pipe:
            pipe.watch(self.key)  # type: ignore[no-untyped-call]
            before = self._document(pipe.get(self.key))
            check_if_match(if_match, before)
            on_commit(before)
            pipe.multi()
            pipe.set(self.key, document.text.encode("utf-8"))
            try:
                pipe.execute()
            except redis.WatchError as exc:
                raise PreconditionFailedError(
                    "the policy changed while this change was being made: GET /admin/policy"
                    " again and redo it"
                ) from exc
        return before

    def announce(self, document: PolicyDocument) -> None:
        with _redis_errors(self.channel):
            heard = self.client.publish(self.channel, document.etag)
        logger.info("policy %s announced to %s replicas", document.version, heard)

    def close(self) -> None:
        self.client.close()


@contextmanager
def _redis_errors(where: str) -> Iterator[None]:
    try:
        yield
    except redis.RedisError as exc:
        raise DecisionLogError(f"Redis {where}: {exc}") from exc


def open_policy_home(settings: Settings) -> PolicyHome:
    if settings.redis_url is None:
        return FileHome(settings.policy_path)
    client = redis.Redis.from_url(
        settings.redis_url,
        socket_timeout=settings.redis_timeout_s,
        socket_connect_timeout=settings.redis_timeout_s,
    )
    return RedisHome(client, settings.redis_prefix, settings.policy_path)
