"""Band edges for target shares, and the search for a cost ceiling or a quality floor."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from router.decision.policy import Policy
from router.errors import SimulationError
from router.ops.traffic import read_export
from router.ops.tuning import edges_for_shares, parse_shares, tune, with_edges
from tests.router.ops.conftest import explored_log, write_export


def test_shares_name_every_tier_and_add_up_to_one(policy: Policy) -> None:
    assert parse_shares("fast=0.5, mid=0.3,deep=0.2", policy) == {
        "fast": 0.5, "mid": 0.3, "deep": 0.2,
    }  # fmt: skip
    with pytest.raises(SimulationError, match="give a share for each"):
        parse_shares("fast=0.5,mid=0.5", policy)
    with pytest.raises(SimulationError, match=r"add up to 0\.9"):
        parse_shares("fast=0.5,mid=0.3,deep=0.1", policy)
    with pytest.raises(SimulationError, match="'mid=lots'"):
        parse_shares("fast=0.5,mid=lots,deep=0.2", policy)


def test_edges_for_shares_put_each_share_below_its_boundary() -> None:
    score = np.random.default_rng(0).beta(2, 5, 10_000)
    edges = edges_for_shares(score, [0.5, 0.8, 0.95])

    below = [float((score < edge).mean()) for edge in edges]
    assert below == pytest.approx([0.5, 0.8, 0.95], abs=0.001)


def test_edges_stay_strictly_increasing_when_scores_tie() -> None:
    edges = edges_for_shares(np.full(100, 0.5), [0.3, 0.6])

    assert 0 < edges[0] < edges[1] < 1


def test_tuned_shares_are_within_two_points_of_the_targets(policy: Policy, tmp_path: Path) -> None:
    traffic = read_export(write_export(tmp_path / "log.jsonl", explored_log(policy, 3000, 0.2)))
    targets = {"fast": 0.6, "mid": 0.3, "deep": 0.1}

    tuned = tune(policy, traffic, shares=targets, version="tuned-1")

    assert tuned.policy.version == "tuned-1"
    for name, share in targets.items():
        assert abs(tuned.figures.shares[name] - share) <= 0.02


def test_a_quality_floor_picks_the_cheapest_policy_that_meets_it(
    policy: Policy, tmp_path: Path
) -> None:
    traffic = read_export(write_export(tmp_path / "log.jsonl", explored_log(policy, 3000, 0.3)))
    baseline = tune(policy, traffic, shares={"fast": 0.3, "mid": 0.4, "deep": 0.3}).figures

    tuned = tune(policy, traffic, min_quality=baseline.quality.value - 0.02)

    assert tuned.figures.quality.value >= baseline.quality.value - 0.03
    assert tuned.figures.reasoning_tokens_per_1k.value < baseline.reasoning_tokens_per_1k.value


def test_an_unreachable_target_says_what_is_reachable(policy: Policy, tmp_path: Path) -> None:
    traffic = read_export(write_export(tmp_path / "log.jsonl", explored_log(policy, 2000, 0.3)))

    with pytest.raises(SimulationError, match="best reaches quality"):
        tune(policy, traffic, min_quality=0.999)


def test_with_edges_refuses_the_wrong_number_of_edges(policy: Policy) -> None:
    with pytest.raises(SimulationError, match="1 edges for 3 tiers"):
        with_edges(policy, [0.5])
