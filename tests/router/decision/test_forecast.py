from __future__ import annotations

import pytest

from records import Budget, Strategy
from router.decision.forecast import (
    ANSWER_TOKENS,
    Forecaster,
    ForecastTier,
    Observation,
    TokenPrice,
    estimate_prompt_tokens,
)

PRICE = TokenPrice(prompt=1e-6, output=4e-6)
DEEP = ForecastTier(
    "deep", "openai/o3", Budget(budget_tokens=4000, max_tokens=8000), Strategy(samples=1)
)


def test_a_thin_log_forecasts_from_the_budget_with_unknown_latency() -> None:
    forecaster = Forecaster(min_observations=5)
    forecaster.observe(Observation("deep", "openai/o3", 10, 900, 1200.0))

    forecast = forecaster.forecast(DEEP, PRICE, prompt_tokens=100)

    assert (forecast.source, forecast.observations) == ("budget", 1)
    assert forecast.output_tokens_p50 == 4000 + ANSWER_TOKENS
    assert forecast.output_tokens_p90 == 8000
    assert forecast.cost_usd_p50 == pytest.approx(100e-6 + (4000 + ANSWER_TOKENS) * 4e-6)
    assert forecast.latency_ms_p50 is None


def test_enough_observations_forecast_their_quantiles() -> None:
    forecaster = Forecaster(min_observations=5)
    for tokens in range(100, 1100, 100):  # 100, 200, ..., 1000
        forecaster.observe(Observation("deep", "openai/o3", 10, tokens, tokens * 2.0))

    forecast = forecaster.forecast(DEEP, PRICE, prompt_tokens=10)

    assert (forecast.source, forecast.observations) == ("log", 10)
    assert (forecast.output_tokens_p50, forecast.output_tokens_p90) == (550, 910)
    assert forecast.latency_ms_p50 == pytest.approx(1100.0)
    assert forecast.cost_usd_p90 == pytest.approx(10e-6 + 910 * 4e-6)


def test_samples_multiply_the_tokens_and_an_unknown_price_leaves_cost_unknown() -> None:
    vote = DEEP._replace(strategy=Strategy(samples=3))

    forecast = Forecaster().forecast(vote, None, prompt_tokens=10)

    assert forecast.output_tokens_p50 == 3 * (4000 + ANSWER_TOKENS)
    assert forecast.cost_usd_p50 is None and forecast.cost_usd_p90 is None


def test_observations_are_kept_per_tier_and_model_in_a_window() -> None:
    forecaster = Forecaster(window=3)
    for tokens in (1, 2, 3, 4, 5):
        forecaster.observe(Observation("deep", "openai/o3", 0, tokens, None))
    forecaster.observe(Observation("deep", "openai/o4", 0, 9, None))

    assert forecaster.observations("deep", "openai/o3") == 3
    assert forecaster.observations("deep", "openai/o4") == 1


def test_prompt_tokens_are_estimated_from_the_text_of_every_message() -> None:
    messages = [
        {"role": "system", "content": "x" * 40},
        {"role": "user", "content": [{"type": "text", "text": "y" * 39}]},
    ]

    assert estimate_prompt_tokens(messages) == 10 + 10 + 2 * 4
