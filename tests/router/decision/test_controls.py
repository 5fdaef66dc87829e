from __future__ import annotations

import pytest

from records import Forecast
from router.decision.controls import CallerControls, fitting, parse_controls, shifted_score
from router.decision.policy import Policy, Tier
from router.errors import RequestError


def forecast(cost: float | None, latency: float | None) -> Forecast:
    return Forecast(
        source="log",
        observations=30,
        prompt_tokens=10,
        output_tokens_p50=1,
        output_tokens_p90=2,
        cost_usd_p90=cost,
        latency_ms_p90=latency,
    )


def test_headers_are_read_as_numbers() -> None:
    headers = {
        "x-router-max-cost": "0.02",
        "x-router-deadline-ms": "8000",
        "x-router-quality": "7.5",
    }

    assert parse_controls(headers) == CallerControls(0.02, 8000.0, 7.5)
    assert not parse_controls({}).given


@pytest.mark.parametrize(
    ("name", "value", "wanted"),
    [
        ("x-router-max-cost", "cheap", "a cost in USD above 0"),
        ("x-router-max-cost", "0", "a cost in USD above 0"),
        ("x-router-deadline-ms", "-5", "milliseconds above 0"),
        ("x-router-deadline-ms", "inf", "milliseconds above 0"),
        ("x-router-quality", "11", "a number from 0 to 10"),
        ("x-router-quality", "nan", "a number from 0 to 10"),
    ],
)
def test_a_bad_value_is_refused_naming_the_header(name: str, value: str, wanted: str) -> None:
    with pytest.raises(RequestError) as caught:
        parse_controls({name: value})

    assert caught.value.param == name
    assert caught.value.message == f"header {name}: {value!r} is not {wanted}"


def test_the_quality_dial_moves_band_edges_by_a_twentieth_a_step() -> None:
    assert shifted_score(0.4, 5) == pytest.approx(0.4)
    assert shifted_score(0.4, 8) == pytest.approx(0.55)
    assert shifted_score(0.4, 0) == pytest.approx(0.15)
    assert shifted_score(0.9, 10) == 1.0


def test_fitting_walks_down_to_the_strongest_tier_that_fits(policy: Policy) -> None:
    forecasts = {
        "fast": forecast(0.001, 100.0),
        "mid": forecast(0.01, 900.0),
        "deep": forecast(0.1, 5000.0),
    }

    def forecast_of(tier: Tier) -> Forecast:
        return forecasts[tier.name]

    controls = CallerControls(max_cost_usd=0.05, deadline_ms=1000.0)
    tier, reasons = fitting(policy, policy.tier("deep"), controls, forecast_of)
    assert tier.name == "mid"
    assert reasons == [
        "tier 'deep' does not fit: p90 cost $0.100000 is over $0.05;"
        " p90 latency 5000 ms is over 1000 ms",
        "tier 'mid' fits max-cost $0.05, deadline 1000 ms",
    ]

    tier, reasons = fitting(
        policy, policy.tier("mid"), CallerControls(max_cost_usd=1e-6), forecast_of
    )
    assert tier.name == "fast"
    assert reasons[-1] == "no tier fits max-cost $1e-06: the cheapest, 'fast', is sent"


def test_unknown_cost_or_latency_is_taken_to_fit(policy: Policy) -> None:
    tier, reasons = fitting(
        policy, policy.tier("deep"), CallerControls(0.01, 10.0), lambda _: forecast(None, None)
    )

    assert (tier.name, reasons) == ("deep", [])
