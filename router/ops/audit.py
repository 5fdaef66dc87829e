"""The audit of policy changes, kept in the decision store: who, when, from where, what, why.

    audit = open_audit(settings)          # SQLite beside the decision log, or Redis
    audit.append(entry)
    audit.entries(limit=20)               # newest first

SQLite: table ``policy_audit`` in the decision log's database (``decisions.sqlite3``). Redis:
the stream ``<prefix>:policy-audit`` (one JSON field per entry), beside the decision streams.
Each entry keeps the policy text before and after the change, so a rollback needs nothing else,
and a unified diff for people to read. Entries are never changed or removed.
"""

from __future__ import annotations

import difflib
import json
import sqlite3
import threading
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal, Protocol, cast

import redis
from pydantic import BaseModel, ConfigDict

from router.errors import DecisionLogError
from router.ops.policy_file import PolicyDocument
from router.settings import Settings

__all__ = ["AuditEntry", "AuditLog", "RedisAudit", "SQLiteAudit", "open_audit", "policy_diff"]

Action = Literal["apply", "rollback"]


class AuditEntry(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    time: datetime
    action: Action
    actor: str
    address: str | None
    reason: str
    version_before: str
    version_after: str
    etag_before: str
    etag_after: str
    diff: str
    text_before: str
    text_after: str

    @classmethod
    def of(
        cls, action: Action, before: PolicyDocument, after: PolicyDocument,
        *, actor: str, address: str | None, reason: str,
    ) -> AuditEntry:  # fmt: skip
        return cls(
            id=f"chg_{uuid.uuid4().hex[:16]}",
            time=datetime.now(UTC),
            action=action,
            actor=actor,
            address=address,
            reason=reason,
            version_before=before.version,
            version_after=after.version,
            etag_before=before.etag,
            etag_after=after.etag,
            diff=policy_diff(before, after),
            text_before=before.text,
            text_after=after.text,
        )


def policy_diff(before: PolicyDocument, after: PolicyDocument) -> str:
    lines = difflib.unified_diff(
        before.text.splitlines(keepends=True),
        after.text.splitlines(keepends=True),
        fromfile=f"policy {before.version}",
        tofile=f"policy {after.version}",
    )
    return "".join(lines)


class AuditLog(Protocol):
    def append(self, entry: AuditEntry) -> None: ...

    def entries(self, limit: int = 50) -> list[AuditEntry]:
        """The newest ``limit`` entries, newest first."""
        ...

    def close(self) -> None: ...


class SQLiteAudit:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, check_same_thread=False, timeout=5.0)
        with self._db:
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS policy_audit"
                " (seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT UNIQUE, entry TEXT NOT NULL)"
            )

    def append(self, entry: AuditEntry) -> None:
        with self._lock, self._errors(), self._db:
            self._db.execute(
                "INSERT INTO policy_audit (id, entry) VALUES (?, ?)",
                (entry.id, entry.model_dump_json()),
            )

    def entries(self, limit: int = 50) -> list[AuditEntry]:
        with self._lock, self._errors():
            rows = self._db.execute(
                "SELECT entry FROM policy_audit ORDER BY seq DESC LIMIT ?", (limit,)
            ).fetchall()
        return [AuditEntry.model_validate_json(row[0]) for row in rows]

    def close(self) -> None:
        self._db.close()

    def _errors(self) -> _Translated:
        return _Translated(f"policy audit in {self.path}")


class RedisAudit:
    def __init__(self, client: redis.Redis, prefix: str) -> None:
        self.client = client
        self.key = f"{prefix}:policy-audit"

    def append(self, entry: AuditEntry) -> None:
        with _Translated(f"policy audit in Redis {self.key}"):
            self.client.xadd(self.key, {"entry": entry.model_dump_json()})

    def entries(self, limit: int = 50) -> list[AuditEntry]:
        with _Translated(f"policy audit in Redis {self.key}"):
            rows = cast(
                list[tuple[bytes, dict[bytes, bytes]]], self.client.xrevrange(self.key, count=limit)
            )
        return [AuditEntry.model_validate_json(fields[b"entry"]) for _, fields in rows]

    def close(self) -> None:
        self.client.close()


class _Translated:
    """Store errors as ``DecisionLogError`` (503), the cause kept."""

    def __init__(self, where: str) -> None:
        self.where = where

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: object, exc: BaseException | None, tb: object) -> None:
        if isinstance(exc, sqlite3.Error | redis.RedisError | OSError):
            raise DecisionLogError(f"{self.where}: {exc}") from exc


def open_audit(settings: Settings) -> AuditLog:
    if settings.redis_url is not None:
        client = redis.Redis.from_url(
            settings.redis_url,
            socket_timeout=settings.redis_timeout_s,
            socket_connect_timeout=settings.redis_timeout_s,
        )
        return RedisAudit(client, settings.redis_prefix)
    return SQLiteAudit(settings.decision_db_path)


def to_json(entry: AuditEntry, *, texts: bool = False) -> dict[str, object]:
    """An entry for the admin API; the full texts only when asked for."""
    data: dict[str, object] = json.loads(entry.model_dump_json())
    if not texts:
        data.pop("text_before")
        data.pop("text_after")
    return data
