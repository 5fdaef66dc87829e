"""Spend counters: atomic reserve, refuse at the cap, settle; SQLite and a real Redis."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import pytest

from records import Budget
from router.decision.spend_caps import SpendCap, downgrade, lowered, period_of
from router.log.spend import RedisSpendStore, Refusal, Reservation, SpendStore, SQLiteSpendStore
from tests.redis_fixtures import RedisServer

NOW = datetime(2026, 12, 31, 22, 30, tzinfo=UTC)
DAY = SpendCap(window="day", usd=1.0)
MONTH = SpendCap(window="month", usd=1.5)


@pytest.fixture(params=["sqlite", "redis"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SpendStore]:
    if request.param == "sqlite":
        opened: SpendStore = SQLiteSpendStore(tmp_path / "spend.sqlite3")
    else:
        server: RedisServer = request.getfixturevalue("redis_server")
        opened = RedisSpendStore.from_url(server.url, prefix="t", timeout_s=2.0)
    yield opened
    opened.close()


def test_windows_are_utc_calendar_days_and_months() -> None:
    assert period_of("day", NOW) == ("day:2026-12-31", datetime(2027, 1, 1, tzinfo=UTC))
    assert period_of("month", NOW) == ("month:2026-12", datetime(2027, 1, 1, tzinfo=UTC))


def test_lowering_takes_effort_one_level_down_and_halves_budget_tokens() -> None:
    assert lowered(Budget(effort="high", budget_tokens=8000, max_tokens=16000)) == Budget(
        effort="medium", budget_tokens=4000, max_tokens=16000
    )
    assert lowered(Budget(max_tokens=100)) == Budget(effort="none", max_tokens=100)


def test_downgrade_lowers_effort_first_then_the_tier() -> None:
    caps = (SpendCap(window="day", usd=10.0, downgrade_at=0.8),)

    assert downgrade(caps, {"day": 0.5}).step is None
    assert downgrade(caps, {"day": 0.85}).step == "effort"
    assert downgrade(caps, {"day": 0.95}).step == "tier"


def test_reserve_until_a_cap_is_reached_then_refuse_naming_it(store: SpendStore) -> None:
    held = [store.reserve("acme", (DAY, MONTH), 0.3, NOW) for _ in range(4)]

    assert all(isinstance(r, Reservation) for r in held[:4])
    refusal = store.reserve("acme", (DAY, MONTH), 0.3, NOW)
    assert isinstance(refusal, Refusal)
    assert (refusal.cap, refusal.used) == (DAY, pytest.approx(1.2))
    assert refusal.resets_at == datetime(2027, 1, 1, tzinfo=UTC)
    assert isinstance(store.reserve("other", (DAY, MONTH), 0.3, NOW), Reservation)


def test_settle_moves_the_reservation_to_spent(store: SpendStore) -> None:
    reservation = store.reserve("acme", (DAY,), 0.4, NOW)
    assert isinstance(reservation, Reservation)

    store.settle(reservation, 0.25)

    assert store.totals("acme", (DAY,), NOW) == {"day": (pytest.approx(0.25), pytest.approx(0.0))}


def test_concurrent_reservations_never_pass_the_cap(store: SpendStore) -> None:
    def reserve(_: int) -> object:
        return store.reserve("acme", (DAY,), 0.01, NOW)

    with ThreadPoolExecutor(max_workers=16) as pool:
        outcomes = list(pool.map(reserve, range(300)))

    admitted = [o for o in outcomes if isinstance(o, Reservation)]
    assert len(admitted) in (100, 101)  # float sums may leave 0.99999 below the cap
    spent, reserved = store.totals("acme", (DAY,), NOW)["day"]
    assert spent == 0.0
    assert reserved == pytest.approx(0.01 * len(admitted))
