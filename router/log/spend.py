"""Spend counters per caller and cap window, atomic in SQLite or Redis.

    store = open_spend_store(settings)       # Redis when ROUTER_REDIS_URL is set, else SQLite
    shares = store.totals(caller, caps, now)            # {cap: (spent, reserved)}
    outcome = store.reserve(caller, caps, amount, now)  # a Reservation, or the Refusal's cap
    store.settle(reservation, actual_cost)              # reserved -= amount, spent += actual

Each (caller, window) has one counter pair: ``spent`` (settled answers) and ``reserved``
(requests in flight, each holding its predicted cost). ``reserve`` checks every cap and
reserves in one atomic step (SQLite: one ``BEGIN IMMEDIATE`` transaction; Redis: one Lua
script): it refuses when ``spent + reserved`` has reached a cap, else adds ``amount`` to every
window's ``reserved``. So concurrent requests overshoot a cap by at most what the requests
admitted before it was reached spend beyond their reservations, plus those reservations: the
requests in flight when it was reached. A process killed between ``reserve`` and ``settle``
leaves its reservation counted until the window ends (Redis keys expire a day after it).

SQLite lives at ``data_dir/spend.sqlite3``; Redis keys are ``<prefix>:spend:<caller>:<window
key>`` hashes (``spent``, ``reserved``). Errors become ``DecisionLogError`` naming the store.
"""

from __future__ import annotations

import sqlite3
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Final

import redis

from router.decision.spend_caps import Period, SpendCap, period_of
from router.errors import DecisionLogError
from router.log.store.redis import open_client
from router.log.store.sqlite import Connections, transaction
from router.settings import Settings

__all__ = ["Refusal", "Reservation", "SpendStore", "open_spend_store"]

_SCHEMA: Final = """CREATE TABLE IF NOT EXISTS spend (
    caller TEXT NOT NULL, period TEXT NOT NULL,
    spent REAL NOT NULL DEFAULT 0, reserved REAL NOT NULL DEFAULT 0,
    PRIMARY KEY (caller, period))"""

# KEYS: one hash per cap window; ARGV: amount, then each cap's USD, then each key's expiry time.
_RESERVE: Final = """
local n = #KEYS
for i = 1, n do
  local spent = tonumber(redis.call('HGET', KEYS[i], 'spent') or '0')
  local reserved = tonumber(redis.call('HGET', KEYS[i], 'reserved') or '0')
  if spent + reserved >= tonumber(ARGV[1 + i]) then
    return {i, tostring(spent + reserved)}
  end
end
for i = 1, n do
  redis.call('HINCRBYFLOAT', KEYS[i], 'reserved', ARGV[1])
  redis.call('EXPIREAT', KEYS[i], ARGV[1 + n + i])
end
return {0, '0'}
"""


@dataclass(frozen=True)
class Reservation:
    caller: str
    periods: tuple[str, ...]
    amount: float


@dataclass(frozen=True)
class Refusal:
    cap: SpendCap
    used: float
    resets_at: datetime


class SpendStore(ABC):
    def totals(
        self, caller: str, caps: Sequence[SpendCap], now: datetime
    ) -> dict[str, tuple[float, float]]:
        """(spent, reserved) per cap name for ``caller``'s current windows."""
        with self._errors("read"):
            return {
                cap.name: self._counters(caller, period.key)
                for cap, period in zip(caps, _periods(caps, now), strict=True)
            }

    @abstractmethod
    def reserve(
        self, caller: str, caps: Sequence[SpendCap], amount: float, now: datetime
    ) -> Reservation | Refusal: ...

    @abstractmethod
    def settle(self, reservation: Reservation, actual: float) -> None: ...

    @abstractmethod
    def close(self) -> None: ...

    @abstractmethod
    def _counters(self, caller: str, period: str) -> tuple[float, float]:
        """(spent, reserved) of one window; (0, 0) before its first reservation."""

    @abstractmethod
    def _errors(self, doing: str) -> AbstractContextManager[None]:
        """The store's errors as ``DecisionLogError`` saying what it was ``doing``."""


def _periods(caps: Sequence[SpendCap], now: datetime) -> list[Period]:
    return [period_of(cap.window, now) for cap in caps]


class SQLiteSpendStore(SpendStore):
    def __init__(self, path: Path) -> None:
        self.path = path
        self._connections = Connections(path)
        with self._errors("create"):
            self._connections.get().execute(_SCHEMA)

    @contextmanager
    def _errors(self, doing: str) -> Iterator[None]:
        try:
            yield
        except sqlite3.Error as exc:
            raise DecisionLogError(f"spend counters {self.path}: cannot {doing}: {exc}") from exc

    def _counters(self, caller: str, period: str) -> tuple[float, float]:
        row = (
            self._connections.get()
            .execute(
                "SELECT spent, reserved FROM spend WHERE caller = ? AND period = ?",
                (caller, period),
            )
            .fetchone()
        )
        return (0.0, 0.0) if row is None else (float(row[0]), float(row[1]))

    def reserve(
        self, caller: str, caps: Sequence[SpendCap], amount: float, now: datetime
    ) -> Reservation | Refusal:
        periods = _periods(caps, now)
        with self._errors("reserve"), transaction(self._connections.get()) as db:
            for cap, period in zip(caps, periods, strict=True):
                row = db.execute(
                    "SELECT spent + reserved FROM spend WHERE caller = ? AND period = ?",
                    (caller, period.key),
                ).fetchone()
                used = 0.0 if row is None else float(row[0])
                if used >= cap.usd:
                    return Refusal(cap, used, period.resets_at)
            for period in periods:
                db.execute(
                    "INSERT INTO spend (caller, period, reserved) VALUES (?, ?, ?)"
                    " ON CONFLICT (caller, period) DO UPDATE SET reserved = reserved + ?",
                    (caller, period.key, amount, amount),
                )
        return Reservation(caller, tuple(period.key for period in periods), amount)

    def settle(self, reservation: Reservation, actual: float) -> None:
        with self._errors("settle"), transaction(self._connections.get()) as db:
            for period in reservation.periods:
                db.execute(
                    "UPDATE spend SET reserved = MAX(0, reserved - ?), spent = spent + ?"
                    " WHERE caller = ? AND period = ?",
                    (reservation.amount, actual, reservation.caller, period),
                )

    def close(self) -> None:
        self._connections.close()


class RedisSpendStore(SpendStore):
    def __init__(self, client: redis.Redis, prefix: str = "router") -> None:
        self.client = client
        self.prefix = prefix
        self._reserve = client.register_script(_RESERVE)

    @classmethod
    def from_url(cls, url: str, *, prefix: str, timeout_s: float) -> RedisSpendStore:
        return cls(open_client(url, timeout_s), prefix)

    def _key(self, caller: str, period: str) -> str:
        return f"{self.prefix}:spend:{caller}:{period}"

    @contextmanager
    def _errors(self, doing: str) -> Iterator[None]:
        try:
            yield
        except redis.RedisError as exc:
            raise DecisionLogError(f"spend counters in Redis: cannot {doing}: {exc}") from exc

    def _counters(self, caller: str, period: str) -> tuple[float, float]:
        spent, reserved = self.client.hmget(self._key(caller, period), ["spent", "reserved"])
        return (float(spent or 0), float(reserved or 0))

    def reserve(
        self, caller: str, caps: Sequence[SpendCap], amount: float, now: datetime
    ) -> Reservation | Refusal:
        periods = _periods(caps, now)
        keys = [self._key(caller, period.key) for period in periods]
        expiry = [int((p.resets_at + timedelta(days=1)).timestamp()) for p in periods]
        args = [repr(amount), *(repr(cap.usd) for cap in caps), *map(str, expiry)]
        with self._errors("reserve"):
            index, used = self._reserve(keys=keys, args=args)
        if int(index):
            cap = caps[int(index) - 1]
            return Refusal(cap, float(used), periods[int(index) - 1].resets_at)
        return Reservation(caller, tuple(period.key for period in periods), amount)

    def settle(self, reservation: Reservation, actual: float) -> None:
        with self._errors("settle"):
            pipe = self.client.pipeline(transaction=True)
            for period in reservation.periods:
                key = self._key(reservation.caller, period)
                pipe.hincrbyfloat(key, "reserved", -reservation.amount)
                pipe.hincrbyfloat(key, "spent", actual)
            pipe.execute()

    def close(self) -> None:
        self.client.close()


def open_spend_store(settings: Settings) -> SpendStore:
    """Redis when ``redis_url`` is set (shared by every replica), else SQLite in data_dir."""
    if settings.redis_url is not None:
        return RedisSpendStore.from_url(
            settings.redis_url, prefix=settings.redis_prefix, timeout_s=settings.redis_timeout_s
        )
    return SQLiteSpendStore(settings.data_dir / "spend.sqlite3")
