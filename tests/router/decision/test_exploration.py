"""Exploration: a known share of decisions moves one tier, and says how likely its tier was."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from router.decision.decider import Decider
from router.decision.exploration import Explorer
from router.decision.policy import Policy
from router.decision.policy_file import load_policy
from tests.router.conftest import FakeScorer, WritePolicy, small_policy_data, tier_data

DRAWS = 20_000


def test_off_by_default_changes_nothing(policy: Policy) -> None:
    decision = Decider(FakeScorer(default=0.5), policy).decide_text("x")

    assert Explorer(0.0).explore(policy, decision) == decision
    assert decision.choice_probability == 1.0


@pytest.mark.parametrize(
    ("score", "expected"),
    [
        (0.5, {("mid", 0.8): 0.8, ("fast", 0.1): 0.1, ("deep", 0.1): 0.1}),
        (0.1, {("fast", 0.8): 0.8, ("mid", 0.2): 0.2}),
        (0.9, {("deep", 0.8): 0.8, ("mid", 0.2): 0.2}),
    ],
)
def test_a_share_moves_one_tier_with_its_true_probability(
    policy: Policy, score: float, expected: dict[tuple[str, float], float]
) -> None:
    explorer = Explorer(0.2, random.Random(11))
    decision = Decider(FakeScorer(default=score), policy).decide_text("x")

    outcomes = Counter(
        (explored.tier, round(explored.choice_probability, 9))
        for explored in (explorer.explore(policy, decision) for _ in range(DRAWS))
    )

    assert set(outcomes) == set(expected)
    for outcome, share in expected.items():
        assert outcomes[outcome] / DRAWS == pytest.approx(share, abs=0.015)


def test_an_explored_decision_is_that_tier_throughout(policy: Policy) -> None:
    decision = Decider(FakeScorer(default=0.1), policy).decide_text("x")

    explored = Explorer(0.5, random.Random(0)).explore(policy, decision)
    while explored.tier == "fast":
        explored = Explorer(0.5, random.Random()).explore(policy, decision)

    mid = policy.tier("mid")
    assert (explored.tier, explored.tier_index, explored.model) == ("mid", 1, mid.model)
    assert (explored.budget, explored.strategy) == (mid.budget, mid.strategy)
    assert explored.score == decision.score
    assert explored.reasons[-1] == (
        "explored: sent to tier 'mid' instead of 'fast' (probability 0.5)"
    )


def test_the_same_seed_explores_the_same_way(policy: Policy) -> None:
    decision = Decider(FakeScorer(default=0.5), policy).decide_text("x")

    def run(seed: int) -> list[str]:
        explorer = Explorer(0.3, random.Random(seed))
        return [explorer.explore(policy, decision).tier for _ in range(200)]

    assert run(5) == run(5)
    assert run(5) != run(6)


def test_a_policy_with_one_tier_has_nothing_to_explore(write_policy: WritePolicy) -> None:
    data = small_policy_data() | {"tiers": [tier_data("only", (0.0, 1.0))]}
    policy = load_policy(write_policy(data), env={})
    decision = Decider(FakeScorer(default=0.5), policy).decide_text("x")

    explored = [Explorer(0.5, random.Random(n)).explore(policy, decision) for n in range(20)]

    assert {(d.tier, d.choice_probability) for d in explored} == {("only", 1.0)}


@pytest.mark.parametrize("rate", [-0.1, 1.0])
def test_a_rate_outside_the_unit_interval_is_refused(rate: float) -> None:
    with pytest.raises(ValueError, match="outside"):
        Explorer(rate)
