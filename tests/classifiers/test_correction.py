from __future__ import annotations

import numpy as np
import pytest

from classifiers.correction import fit_correction
from training import metrics

DIM = 12


def cluster(rng: np.random.Generator, center: np.ndarray, n: int) -> np.ndarray:
    return center + 0.4 * rng.normal(size=(n, DIM))


def test_the_correction_learns_where_the_log_is_and_leaves_the_rest_alone() -> None:
    rng = np.random.default_rng(0)
    logged_center, other_center = np.zeros(DIM), np.zeros(DIM)
    logged_center[0], other_center[1] = 3.0, 3.0
    Z = cluster(rng, logged_center, 600)
    truth = 1 / (1 + np.exp(-4 * Z[:, 2]))  # where the cheap tier fails: the base does not know
    failed = (rng.random(600) < truth).astype(float)
    base = np.full(600, 0.3)

    correction = fit_correction(base, Z, failed, np.ones(600), recovery=0.8, embedding_columns=DIM)

    fresh = cluster(rng, logged_center, 400)
    fresh_truth = rng.random(400) < 1 / (1 + np.exp(-4 * fresh[:, 2]))
    after = correction.apply(np.full(400, 0.3), fresh)
    assert metrics.auroc(fresh_truth, after) > 0.75
    assert after.max() <= 0.8  # a failure the stronger tiers do not recover is no gain
    assert correction.coverage(fresh).mean() > 0.9
    elsewhere = cluster(rng, other_center, 200)
    unchanged = correction.apply(np.full(200, 0.3), elsewhere) == 0.3
    assert correction.coverage(elsewhere).mean() < 0.02 and unchanged.mean() > 0.95


def test_a_log_of_one_outcome_is_refused() -> None:
    Z = np.random.default_rng(1).normal(size=(50, DIM))

    with pytest.raises(ValueError, match="all failures or all successes"):
        fit_correction(
            np.full(50, 0.2), Z, np.zeros(50), np.ones(50), recovery=0.5, embedding_columns=DIM
        )
