"""Where API keys live: a JSON file under the data dir, or a Redis hash shared by replicas.

    store = open_key_store(settings)     # Redis when ROUTER_REDIS_URL is set, else the file
    store.add(key); store.revoke("key_0123456789ab"); store.all()      # `router keys ...`
    lookup = await store.find("key_0123456789ab")                       # every request

``KeyFile`` (``<data_dir>/api-keys.json``, mode 0600, replaced whole and atomically on each
change, under a lock file) is read again whenever its inode, size or modification time
changes, checked on every lookup, so a revocation by ``router keys revoke`` counts from the
next request. ``RedisKeys`` keeps the keys in the hash ``<prefix>:api-keys`` (id -> key JSON)
and reads a key's entry on every lookup (one HGET): a revocation counts on every replica from
the next request. If Redis cannot be reached, a lookup answers with the last copy of that key
this process read (logged); a key it never read is a ``KeyStoreError`` (503): the service fails
closed, unless the last read found no keys at all, when it stays open as it was.

``Lookup.configured`` says whether any key exists, revoked or not: with none the service may run
open (``router.access.guard``).
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Protocol

import redis
import redis.asyncio as aioredis
from pydantic import ValidationError

from router.access.keys import ApiKey
from router.errors import KeyStoreError, UnknownKeyError
from router.settings import Settings

__all__ = ["KeyFile", "KeyStore", "Lookup", "RedisKeys", "open_key_store"]

logger = logging.getLogger(__name__)

KEYS_FILE: Final = "api-keys.json"


@dataclass(frozen=True)
class Lookup:
    key: ApiKey | None
    configured: bool


class KeyStore(Protocol):
    def add(self, key: ApiKey) -> None: ...
    def revoke(self, key_id: str) -> ApiKey: ...
    def all(self) -> list[ApiKey]: ...
    async def find(self, key_id: str | None) -> Lookup: ...
    def where(self) -> str: ...
    async def aclose(self) -> None: ...


def open_key_store(settings: Settings) -> KeyStore:
    if settings.redis_url is not None:
        return RedisKeys(settings.redis_url, settings.redis_prefix, settings.redis_timeout_s)
    return KeyFile(settings.keys_path or settings.data_dir / KEYS_FILE)


def _revoked(keys: dict[str, ApiKey], key_id: str) -> ApiKey:
    key = keys.get(key_id)
    if key is None:
        raise UnknownKeyError(f"no key {key_id!r}; `router keys list` shows the ids")
    return key if not key.active else key.revoked()


class KeyFile:
    """Keys in one JSON file, re-read when it changes."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._signature: tuple[int, int, int] | None = None
        self._keys: dict[str, ApiKey] = {}

    def where(self) -> str:
        return str(self.path)

    def add(self, key: ApiKey) -> None:
        with self._locked():
            keys = self._read()
            keys[key.id] = key
            self._write(keys)

    def revoke(self, key_id: str) -> ApiKey:
        with self._locked():
            keys = self._read()
            keys[key_id] = key = _revoked(keys, key_id)
            self._write(keys)
        return key

    def all(self) -> list[ApiKey]:
        return list(self._read().values())

    async def find(self, key_id: str | None) -> Lookup:
        keys = self._current()
        return Lookup(None if key_id is None else keys.get(key_id), bool(keys))

    async def aclose(self) -> None:
        return None

    def _current(self) -> dict[str, ApiKey]:
        try:
            stat = os.stat(self.path)
        except FileNotFoundError:
            self._signature, self._keys = None, {}
            return self._keys
        except OSError as exc:
            raise KeyStoreError(f"{self.path}: cannot read the keys file: {exc}") from exc
        signature = (stat.st_ino, stat.st_size, stat.st_mtime_ns)
        if signature != self._signature:
            self._keys, self._signature = self._read(), signature
        return self._keys

    def _read(self) -> dict[str, ApiKey]:
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return {}
        except OSError as exc:
            raise KeyStoreError(f"{self.path}: cannot read the keys file: {exc}") from exc
        try:
            rows = json.loads(text)["keys"]
            keys = [ApiKey.model_validate(row) for row in rows]
        except (ValueError, KeyError, TypeError, ValidationError) as exc:
            raise KeyStoreError(f"{self.path}: not a keys file ({exc})".splitlines()[0]) from exc
        return {key.id: key for key in keys}

    def _write(self, keys: dict[str, ApiKey]) -> None:
        rows = [key.model_dump(mode="json") for key in keys.values()]
        descriptor, name = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.")
        staged = Path(name)  # mkstemp makes it 0600, which the rename keeps
        try:
            with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
                json.dump({"keys": rows}, handle, indent=1, sort_keys=True)
                handle.flush()
                os.fsync(handle.fileno())
            staged.replace(self.path)
        except BaseException:
            staged.unlink(missing_ok=True)
            raise

    @contextmanager
    def _locked(self) -> Iterator[None]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        lock = self.path.with_name(f".{self.path.name}.lock")
        with lock.open("a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)


class RedisKeys:
    """Keys in the Redis hash ``<prefix>:api-keys``, read on every lookup."""

    def __init__(self, url: str, prefix: str, timeout_s: float) -> None:
        self.hash = f"{prefix}:api-keys"
        self._options: dict[str, Any] = {"socket_timeout": timeout_s}
        self._options["socket_connect_timeout"] = timeout_s
        self._url = url
        self._sync: redis.Redis | None = None
        self._async: aioredis.Redis | None = None
        self._seen: dict[str, ApiKey] = {}
        self._configured: bool | None = None  # as last read

    def where(self) -> str:
        return f"Redis hash {self.hash}"

    def add(self, key: ApiKey) -> None:
        with self._errors():
            self._client().hset(self.hash, key.id, key.model_dump_json())

    def revoke(self, key_id: str) -> ApiKey:
        key = _revoked({k.id: k for k in self.all()}, key_id)
        self.add(key)
        return key

    def all(self) -> list[ApiKey]:
        with self._errors():
            rows: dict[bytes, bytes] = self._client().hgetall(self.hash)  # type: ignore[assignment]
        return [_parsed(self.hash, raw) for raw in rows.values()]

    async def find(self, key_id: str | None) -> Lookup:
        client = self._async_client()
        try:
            async with client.pipeline(transaction=False) as pipe:
                pipe.hget(self.hash, key_id or "")
                pipe.exists(self.hash)
                raw, exists = await pipe.execute()
        except redis.RedisError as exc:
            return self._remembered(key_id, exc)
        key = None if raw is None else _parsed(self.hash, raw)
        if key is not None:
            self._seen[key.id] = key
        self._configured = bool(exists)
        return Lookup(key, self._configured)

    async def aclose(self) -> None:
        if self._async is not None:
            await self._async.aclose()
        if self._sync is not None:
            self._sync.close()

    def _remembered(self, key_id: str | None, exc: redis.RedisError) -> Lookup:
        key = self._seen.get(key_id or "")
        if key is None and self._configured is False:
            return Lookup(None, False)  # no keys when last read: stay open (loopback) meanwhile
        if key is None:
            raise KeyStoreError(f"cannot reach the key store in Redis: {exc}") from exc
        logger.warning("Redis unreachable (%s): key %s checked against its last copy", exc, key.id)
        return Lookup(key, True)

    def _client(self) -> redis.Redis:
        if self._sync is None:
            self._sync = redis.Redis.from_url(self._url, **self._options)
        return self._sync

    def _async_client(self) -> aioredis.Redis:
        if self._async is None:
            self._async = aioredis.Redis.from_url(self._url, **self._options)
        return self._async

    @contextmanager
    def _errors(self) -> Iterator[None]:
        try:
            yield
        except redis.RedisError as exc:
            raise KeyStoreError(f"cannot reach the key store in Redis: {exc}") from exc


def _parsed(where: str, raw: bytes | str) -> ApiKey:
    try:
        return ApiKey.model_validate_json(raw)
    except ValidationError as exc:
        raise KeyStoreError(f"{where}: an entry is not a key ({exc.errors()[0]['msg']})") from exc
