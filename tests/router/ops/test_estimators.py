"""Off-policy estimators on a synthetic explored log whose true values are known."""

from __future__ import annotations

import math

import numpy as np

from router.decision.policy import Policy
from router.ops.estimators import Estimate, TierModel, off_policy, weighted_quantile
from router.ops.simulation import tiers_of
from router.ops.tuning import with_edges
from tests.router.ops.conftest import TIERS, explored_log, success_chance, true_quality


def _estimate(
    policy: Policy, logging: Policy, n: int = 20_000, rate: float = 0.3
) -> tuple[Estimate, float]:
    logged = explored_log(logging, n, rate)
    names = np.array(TIERS)[logged.tier]
    success = logged.success[np.arange(n), logged.tier].astype(float)
    target = tiers_of(policy, logged.score)
    support = np.ones(n, dtype=bool)
    estimate = off_policy(
        success, logged.score, names, logged.propensity, target, support, binary=True
    )
    return estimate, true_quality(policy, logged)


def test_doubly_robust_and_ips_recover_a_candidates_quality_from_an_explored_log(
    policy: Policy,
) -> None:
    candidate = with_edges(policy, [0.4, 0.8], "candidate")
    estimate, truth = _estimate(candidate, policy)

    assert abs(estimate.value - truth) < 0.01
    assert abs(estimate.ips - truth) < 0.02
    assert estimate.low < truth < estimate.high
    assert estimate.problem is None
    assert 0 < estimate.effective_rows < estimate.rows


def test_the_interval_narrows_with_more_rows(policy: Policy) -> None:
    candidate = with_edges(policy, [0.4, 0.8], "candidate")
    small, _ = _estimate(candidate, policy, n=2_000)
    large, _ = _estimate(candidate, policy, n=20_000)

    assert large.high - large.low < (small.high - small.low) / 2


def test_a_tier_no_logged_request_reached_is_named_as_unsupported(policy: Policy) -> None:
    logged = explored_log(policy, 1000, rate=0.0)
    names = np.array(TIERS)[logged.tier]
    target = np.full(1000, "turbo")
    estimate = off_policy(
        np.ones(1000), logged.score, names, logged.propensity, target,
        np.zeros(1000, dtype=bool), binary=True,
    )  # fmt: skip

    assert math.isnan(estimate.value)
    assert estimate.problem is not None and "'turbo'" in estimate.problem


def test_requests_sent_where_the_logging_policy_never_could_are_reported(policy: Policy) -> None:
    logged = explored_log(policy, 2000, rate=0.2)
    names = np.array(TIERS)[logged.tier]
    target = tiers_of(with_edges(policy, [0.01, 0.02]), logged.score)  # nearly all to deep
    support = np.asarray(target == names) | (logged.score >= 0.3)
    estimate = off_policy(
        logged.success[:, 0].astype(float), logged.score, names, logged.propensity, target,
        support, binary=True,
    )  # fmt: skip

    assert estimate.unsupported > 0.05
    assert estimate.problem is not None and "could not have chosen" in estimate.problem


def test_logistic_tier_model_recovers_its_curve() -> None:
    rng = np.random.default_rng(1)
    score = rng.uniform(0, 1, 20_000)
    success = (rng.uniform(0, 1, score.size) < success_chance(0, score)).astype(float)

    model = TierModel.fit(score, success, binary=True)

    assert abs(model.intercept - 2.5) < 0.2 and abs(model.slope + 6.0) < 0.4


def test_weighted_quantile_weighs_rows() -> None:
    values = np.array([1.0, 2.0, 3.0, math.nan])
    assert weighted_quantile(values, np.array([1.0, 1.0, 1.0, 1.0]), 0.5) == 2.0
    assert weighted_quantile(values, np.array([0.0, 0.0, 5.0, 1.0]), 0.5) == 3.0
    assert math.isnan(weighted_quantile(values, np.zeros(4), 0.5))
