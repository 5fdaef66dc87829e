"""router.decision.policy: choosing a tier by score, prices, tier lookups, band text."""

from __future__ import annotations

import math

import pytest

from router.decision.policy import Policy
from router.decision.policy_file import load_policy
from router.errors import UnknownModelError
from tests.router.conftest import WritePolicy, tier_data
from tests.router.decision.conftest import with_tier_change, with_tiers


@pytest.mark.parametrize(
    ("score", "tier"),
    [
        (0.0, "fast"),
        (0.2999, "fast"),
        (0.3, "mid"),
        (0.5, "mid"),
        (0.7, "deep"),
        (0.99, "deep"),
        (1.0, "deep"),
    ],
)
def test_choose_puts_a_boundary_score_in_the_higher_tier(
    policy: Policy, score: float, tier: str
) -> None:
    assert policy.choose(score).name == tier


@pytest.mark.parametrize("score", [-0.01, 1.01, math.nan, math.inf])
def test_choose_refuses_a_score_outside_the_unit_interval(policy: Policy, score: float) -> None:
    with pytest.raises(ValueError, match="outside"):
        policy.choose(score)


def test_price_is_read_per_million_tokens(write_policy: WritePolicy) -> None:
    price = {"input_per_mtok": 0.25, "output_per_mtok": "${OUT_PRICE:-2}"}
    policy = load_policy(write_policy(with_tier_change(0, price=price)), env={})

    fast = policy.tiers[0].price
    assert fast is not None
    assert (fast.input_per_mtok, fast.output_per_mtok, fast.cached_input_per_mtok) == (
        0.25,
        2.0,
        None,
    )
    assert policy.tiers[1].price is None


def test_single_tier_policy_takes_every_score(write_policy: WritePolicy) -> None:
    policy = load_policy(write_policy(with_tiers(tier_data("only", (0.0, 1.0)))), env={})

    assert {policy.choose(score).name for score in (0.0, 0.5, 1.0)} == {"only"}


def test_tier_looks_up_by_name_and_refuses_unknown_names(policy: Policy) -> None:
    assert policy.tier("mid").band == (0.3, 0.7)
    with pytest.raises(UnknownModelError, match="no tier named 'huge'; tiers: fast, mid, deep"):
        policy.tier("huge")


def test_tier_for_model_finds_the_cheapest_tier_using_it(write_policy: WritePolicy) -> None:
    shared = "openai/shared"
    path = write_policy(
        with_tiers(
            tier_data("a", (0.0, 0.5), model=shared), tier_data("b", (0.5, 1.0), model=shared)
        )
    )
    policy = load_policy(path, env={})

    assert policy.tier_for_model(shared).name == "a"
    with pytest.raises(UnknownModelError, match="no tier uses model 'openai/other'"):
        policy.tier_for_model("openai/other")


def test_band_text_shows_half_open_bands_and_a_closed_last_band(policy: Policy) -> None:
    assert [policy.band_text(tier) for tier in policy.tiers] == [
        "[0, 0.3)",
        "[0.3, 0.7)",
        "[0.7, 1]",
    ]
