"""Recent traffic from the decision store, for the admin API's simulations and the ops page.

    recent = RecentTraffic(store, window=timedelta(days=7), ttl_s=10)
    traffic = recent.traffic()            # re-read at most every ttl_s seconds
    summary = recent.summary(policy)      # requests, spend and reasoning tokens per tier

Reads every decision of the window (``DecisionStore.logged``) through the export's row format,
so what the admin API simulates is what ``router policy simulate`` would on an export.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np

from router.errors import DataError
from router.log.store.base import DecisionStore
from router.log.store.export import export_row
from router.ops.traffic import Traffic, traffic_of_rows

__all__ = ["RecentTraffic"]


class RecentTraffic:
    def __init__(self, store: DecisionStore, window: timedelta, ttl_s: float = 10.0) -> None:
        self.store = store
        self.window = window
        self.ttl_s = ttl_s
        self._lock = threading.Lock()
        self._cached: tuple[float, datetime | None, Traffic | None] | None = None

    def traffic(self, since: datetime | None = None) -> Traffic | None:
        """The answered requests since ``since`` (default: the window); None when none."""
        with self._lock:
            now = time.monotonic()
            if self._cached and self._cached[1] == since and now - self._cached[0] < self.ttl_s:
                return self._cached[2]
            traffic = self._read(since or datetime.now(UTC) - self.window)
            self._cached = (now, since, traffic)
            return traffic

    def _read(self, since: datetime) -> Traffic | None:
        rows = (
            (number, export_row(logged))
            for number, logged in enumerate(self.store.logged(since, None), 1)
        )
        try:
            return traffic_of_rows("decision log", rows)
        except DataError:
            return None

    def summary(self, since: datetime | None = None) -> dict[str, Any]:
        """Requests, spend and reasoning tokens per tier over the traffic."""
        traffic = self.traffic(since)
        if traffic is None:
            return {"requests": 0, "tiers": {}}
        tiers = {}
        for name in sorted(traffic.tiers_seen):
            rows = traffic.tier == name
            tiers[name] = {
                "requests": int(rows.sum()),
                "spend_usd": float(traffic.cost_usd[rows].sum()),
                "reasoning_tokens": int(traffic.reasoning_tokens[rows].sum()),
                "with_outcome": int((~np.isnan(traffic.success[rows])).sum()),
            }
        return {
            "requests": traffic.requests,
            "spend_usd": float(traffic.cost_usd.sum()),
            "reasoning_tokens": int(traffic.reasoning_tokens.sum()),
            "tiers": tiers,
        }
