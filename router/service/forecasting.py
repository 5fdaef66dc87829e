"""Forecasts on decisions, and the observations that keep them current.

    decision = with_forecast(decision, snapshot, forecaster, messages)  # cost/latency before
    forecaster.observe_all(observations_of(record))                     # after each answer
    seed(store, forecaster)                                             # at start, from the log

``with_forecast`` adds the chosen tier's ``Forecast`` (``router.decision.forecast``) and a
reason saying where it came from. ``observations_of`` turns a settled record into one
observation per sample (a vote's tokens divided by its samples) at the tier that answered
(each cascade step at its own tier); failed requests teach nothing. ``seed`` reads the last
``SEED_DAYS`` of the log, so a restarted service forecasts from what it saw before.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from records import Decision, DecisionRecord, Forecast
from router.decision.forecast import (
    Forecaster,
    ForecastTier,
    Observation,
    TokenPrice,
    estimate_prompt_tokens,
)
from router.decision.policy import Policy
from router.errors import RouterError
from router.log.store.base import DecisionStore
from router.upstream.pricing import token_price

__all__ = ["SEED_DAYS", "observations_of", "prices_of", "seed", "with_forecast"]

logger = logging.getLogger(__name__)

SEED_DAYS: Final = 2
OK: Final = "ok"


def prices_of(policy: Policy) -> dict[str, TokenPrice | None]:
    """Each tier's token price (its ``price``, else litellm's)."""
    return {tier.name: token_price(tier.model, tier.price) for tier in policy.tiers}


def forecast_of(
    policy: Policy,
    prices: Mapping[str, TokenPrice | None],
    forecaster: Forecaster,
    tier_name: str,
    prompt_tokens: int,
) -> Forecast:
    tier = policy.tier(tier_name)
    shape = ForecastTier(tier.name, tier.model, tier.budget, tier.strategy)
    return forecaster.forecast(shape, prices.get(tier.name), prompt_tokens)


def with_forecast(
    decision: Decision,
    policy: Policy,
    prices: Mapping[str, TokenPrice | None],
    forecaster: Forecaster,
    messages: Sequence[Mapping[str, Any]],
) -> Decision:
    """``decision`` with its tier's forecast and a reason naming its source."""
    forecast = forecast_of(
        policy, prices, forecaster, decision.tier, estimate_prompt_tokens(messages)
    )
    reason = _reason(decision.tier, forecast)
    return decision.model_copy(
        update={"forecast": forecast, "reasons": (*decision.reasons, reason)}
    )


def _reason(tier: str, forecast: Forecast) -> str:
    if forecast.source == "log":
        where = f"from {forecast.observations} logged answers of tier '{tier}'"
    else:
        where = (
            f"from the budget of tier '{tier}': the log holds {forecast.observations} of its"
            " answers, too few to learn from"
        )
    cost = (
        "no known price"
        if forecast.cost_usd_p50 is None or forecast.cost_usd_p90 is None
        else f"${forecast.cost_usd_p50:.6f} (p50) to ${forecast.cost_usd_p90:.6f} (p90)"
    )
    return f"predicted cost {cost}, {forecast.output_tokens_p50} output tokens (p50), {where}"


def observations_of(record: DecisionRecord) -> list[Observation]:
    """One observation per answered sample of ``record``; none for a failed request."""
    if record.steps:
        return [
            Observation(
                step.tier, step.model, step.prompt_tokens, step.completion_tokens, step.upstream_ms
            )
            for step in record.steps
            if step.status == OK and step.upstream_ms is not None
        ]
    if record.status != OK:
        return []
    samples = record.strategy.samples
    return [
        Observation(
            record.tier,
            record.model,
            record.prompt_tokens // samples,
            record.completion_tokens // samples,
            record.upstream_ms,
        )
    ]


def seed(store: DecisionStore, forecaster: Forecaster, days: int = SEED_DAYS) -> int:
    """Observe the last ``days`` of the log; the number of records read. Blocking; a store
    that cannot be read leaves the forecaster as it is (logged, never raised)."""
    since = datetime.now(UTC) - timedelta(days=days)
    count = 0
    try:
        for logged in store.logged(since=since):
            forecaster.observe_all(observations_of(logged.record))
            count += 1
    except RouterError as exc:
        logger.warning("forecasts start without the log: %s", exc.message)
    return count
