"""Caller controls: a cost ceiling, a deadline and a quality dial, sent as request headers.

    x-router-max-cost: 0.02       USD; a tier fits when its p90 predicted cost is at most this
    x-router-deadline-ms: 8000    a tier fits when its p90 predicted latency is at most this
                                  (a tier whose latency is not known yet is taken to fit)
    x-router-quality: 8           0-10, default 5: each step above 5 lowers every band edge by
                                  QUALITY_STEP (more prompts reach stronger tiers), each step
                                  below raises them

``parse_controls(headers)`` reads them (``RequestError``, a 400 naming the header, for a value
that is not a number in range). The quality dial is applied as a shifted score (moving every
edge down by d is the same as moving the score up by d); then, from the tier that score selects,
``fitting`` walks down to cheaper tiers until one fits the cost and the deadline, and says why
it passed each one over. When none fits, the cheapest tier is sent, and the reasons say so.
A pinned request keeps its tier: the controls apply to ``model: auto`` only.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Final

from records import Forecast
from router.decision.policy import Policy, Tier
from router.errors import RequestError

__all__ = [
    "DEADLINE_HEADER",
    "MAX_COST_HEADER",
    "QUALITY_HEADER",
    "CallerControls",
    "fitting",
    "parse_controls",
    "shifted_score",
]

MAX_COST_HEADER: Final = "x-router-max-cost"
DEADLINE_HEADER: Final = "x-router-deadline-ms"
QUALITY_HEADER: Final = "x-router-quality"
QUALITY_NEUTRAL: Final = 5.0
QUALITY_STEP: Final = 0.05


@dataclass(frozen=True)
class CallerControls:
    max_cost_usd: float | None = None
    deadline_ms: float | None = None
    quality: float | None = None

    @property
    def given(self) -> bool:
        return (self.max_cost_usd, self.deadline_ms, self.quality) != (None, None, None)

    def summary(self) -> str:
        """E.g. ``max-cost $0.02, deadline 8000 ms, quality 8``."""
        parts = []
        if self.max_cost_usd is not None:
            parts.append(f"max-cost ${self.max_cost_usd:g}")
        if self.deadline_ms is not None:
            parts.append(f"deadline {self.deadline_ms:g} ms")
        if self.quality is not None:
            parts.append(f"quality {self.quality:g}")
        return ", ".join(parts)


def parse_controls(headers: Mapping[str, str]) -> CallerControls:
    """The controls in ``headers`` (names are matched case-insensitively by the caller's
    mapping, as Starlette's headers are)."""
    return CallerControls(
        max_cost_usd=_number(headers, MAX_COST_HEADER, "a cost in USD above 0", low=0.0),
        deadline_ms=_number(headers, DEADLINE_HEADER, "milliseconds above 0", low=0.0),
        quality=_number(headers, QUALITY_HEADER, "a number from 0 to 10", low=0.0, high=10.0),
    )


def _number(
    headers: Mapping[str, str], name: str, wanted: str, *, low: float, high: float | None = None
) -> float | None:
    text = headers.get(name)
    if text is None:
        return None
    try:
        value = float(text.strip())
    except ValueError:
        value = math.nan
    strictly_above = high is None
    in_range = math.isfinite(value) and (value > low if strictly_above else value >= low)
    if high is not None:
        in_range = in_range and value <= high
    if not in_range:
        raise RequestError(f"header {name}: {text!r} is not {wanted}", param=name)
    return value


def shifted_score(score: float, quality: float) -> float:
    """``score`` as the quality dial reads it, kept in [0, 1]."""
    return min(1.0, max(0.0, score + (quality - QUALITY_NEUTRAL) * QUALITY_STEP))


def fitting(
    policy: Policy,
    start: Tier,
    controls: CallerControls,
    forecast_of: Callable[[Tier], Forecast],
) -> tuple[Tier, list[str]]:
    """The strongest tier from ``start`` down that fits the controls, and why others did not."""
    reasons: list[str] = []
    for tier in reversed(policy.tiers[: policy.index(start) + 1]):
        misfits = _misfits(forecast_of(tier), controls)
        if not misfits:
            if tier.name != start.name:
                reasons.append(f"tier '{tier.name}' fits {controls.summary()}")
            return tier, reasons
        reasons.append(f"tier '{tier.name}' does not fit: {'; '.join(misfits)}")
    cheapest = policy.tiers[0]
    reasons.append(f"no tier fits {controls.summary()}: the cheapest, '{cheapest.name}', is sent")
    return cheapest, reasons


def _misfits(forecast: Forecast, controls: CallerControls) -> list[str]:
    misfits = []
    cost = forecast.cost_usd_p90
    if controls.max_cost_usd is not None and cost is not None and cost > controls.max_cost_usd:
        misfits.append(f"p90 cost ${cost:.6f} is over ${controls.max_cost_usd:g}")
    latency = forecast.latency_ms_p90
    if controls.deadline_ms is not None and latency is not None and latency > controls.deadline_ms:
        misfits.append(f"p90 latency {latency:.0f} ms is over {controls.deadline_ms:g} ms")
    return misfits
