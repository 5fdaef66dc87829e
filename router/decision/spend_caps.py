"""Spend caps in the policy, their windows, and how a request is lowered as spend nears one.

    spend_caps:                  # per caller (API key id, else the x-router-tenant header)
      - window: day              # day or month, calendar windows in UTC
        usd: 5.0
        downgrade_at: 0.8        # share of the cap from which requests are lowered (default)
      - window: month
        usd: 60.0

A caller whose spend (answered, plus what requests in flight reserved) is at or past a cap is
refused (429, naming the cap and when its window resets). Below the cap, from ``downgrade_at``
of it, an ``auto`` request is lowered in two steps (``downgrade``): in the first half of the
remaining room its tier's effort is lowered one level (``lowered``: high -> medium -> low ->
none, budget_tokens halved); in the second half it goes to the next cheaper tier (at the
cheapest tier, its effort is lowered instead). A pinned request is never lowered.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Literal, NamedTuple, Protocol

from pydantic import BaseModel, ConfigDict, Field

from records import Budget, Effort
from router.decision.thinking import grid

__all__ = ["Downgrade", "SpendCap", "budget_variants", "downgrade", "lowered", "period_of"]

Window = Literal["day", "month"]
Step = Literal["effort", "tier"]

_LOWER: dict[Effort, Effort] = {"high": "medium", "medium": "low", "low": "none", "none": "none"}


class SpendCap(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    window: Window
    usd: float = Field(gt=0.0, allow_inf_nan=False)
    downgrade_at: float = Field(default=0.8, gt=0.0, le=1.0)

    @property
    def name(self) -> str:
        return self.window


class Period(NamedTuple):
    """One window of a cap: its key (``day:2026-12-06``) and when it ends."""

    key: str
    resets_at: datetime


def period_of(window: Window, now: datetime) -> Period:
    """The calendar window (UTC) holding ``now``."""
    now = now.astimezone(UTC)
    if window == "day":
        start = datetime(now.year, now.month, now.day, tzinfo=UTC)
        return Period(f"day:{start:%Y-%m-%d}", start + timedelta(days=1))
    year, month = (now.year + 1, 1) if now.month == 12 else (now.year, now.month + 1)
    return Period(f"month:{now:%Y-%m}", datetime(year, month, 1, tzinfo=UTC))


def lowered(budget: Budget) -> Budget:
    """``budget`` one effort level down, its budget_tokens halved; the same output ceiling."""
    effort = None if budget.effort is None else _LOWER[budget.effort]
    tokens = None if budget.budget_tokens is None else budget.budget_tokens // 2
    if effort is None and tokens is None:
        effort = "none"
    least = (
        budget.min_tokens
        if budget.min_tokens is None or tokens is None
        else min(budget.min_tokens, tokens)
    )
    return budget.model_copy(
        update={"effort": effort, "budget_tokens": tokens, "min_tokens": least}
    )


def budget_variants(tier: _BudgetHolder) -> list[Budget]:
    """The budgets other than its own a tier may be sent with: its lowered one (spend caps),
    and for an adaptive budget each level of its grid (``router.decision.thinking``), lowered
    too."""
    levels = [tier.budget, *grid(tier.budget)]
    found = {budget for level in levels for budget in (level, lowered(level))}
    found.discard(tier.budget)
    return sorted(found, key=lambda budget: budget.label())


class _BudgetHolder(Protocol):
    @property
    def budget(self) -> Budget: ...


class Downgrade(NamedTuple):
    """What spend near a cap does to a request: lower its effort or its tier (or nothing)."""

    step: Step | None
    cap: SpendCap | None
    share: float


def downgrade(caps: tuple[SpendCap, ...], shares: dict[str, float]) -> Downgrade:
    """The strongest step any cap calls for, given each cap's spent share (0 to 1+)."""
    found = Downgrade(None, None, 0.0)
    for cap in caps:
        share = shares.get(cap.name, 0.0)
        if share < cap.downgrade_at:
            continue
        step: Step = "effort" if share < (cap.downgrade_at + 1.0) / 2 else "tier"
        if found.step is None or (step == "tier" and found.step == "effort"):
            found = Downgrade(step, cap, share)
    return found
