from __future__ import annotations

import math

import numpy as np
import pytest

from training import metrics

# Half the prompts need the strong model; routing exactly those first is perfect.
WEAK = [1, 1, 0, 0]
STRONG = [1, 1, 1, 1]
PERFECT = [0.0, 0.0, 1.0, 1.0]
REVERSED = [1.0, 1.0, 0.0, 0.0]
CONSTANT = [0.5, 0.5, 0.5, 0.5]


def test_quality_curve_has_a_point_per_tie_block() -> None:
    curve = metrics.quality_curve(PERFECT, WEAK, STRONG)

    np.testing.assert_allclose(curve.share, [0.0, 0.5, 1.0])
    np.testing.assert_allclose(curve.accuracy, [0.5, 1.0, 1.0])
    assert (curve.weak_accuracy, curve.strong_accuracy) == (0.5, 1.0)


def test_apgr_of_perfect_reversed_and_constant_scores() -> None:
    assert metrics.apgr(PERFECT, WEAK, STRONG) == pytest.approx(0.75)
    assert metrics.apgr(REVERSED, WEAK, STRONG) == pytest.approx(0.25)
    assert metrics.apgr(CONSTANT, WEAK, STRONG) == 0.5


def test_constant_score_gives_exactly_one_half_on_any_outcomes() -> None:
    rng = np.random.default_rng(7)
    weak, strong = rng.integers(0, 2, 101), rng.integers(0, 2, 101)
    strong[0], weak[0] = 1, 0  # make sure there is a gap

    assert metrics.apgr(np.full(101, 0.3), weak, strong) == 0.5


def test_tied_scores_count_as_the_average_over_tie_orders() -> None:
    weak, strong = [0, 1, 0, 0], [1, 1, 1, 0]
    tied = metrics.apgr([0.9, 0.5, 0.5, 0.1], weak, strong)
    one_way = metrics.apgr([0.9, 0.6, 0.5, 0.1], weak, strong)
    other_way = metrics.apgr([0.9, 0.5, 0.6, 0.1], weak, strong)

    assert one_way == pytest.approx(0.625)
    assert other_way == pytest.approx(0.75)
    assert tied == pytest.approx((one_way + other_way) / 2)


def test_oracle_can_recover_more_than_the_whole_gap() -> None:
    weak, strong = [0, 1, 0, 1, 1], [1, 1, 1, 0, 1]
    oracle = np.subtract(strong, weak)

    assert metrics.apgr(oracle, weak, strong) == pytest.approx(1.5)


def test_apgr_is_undefined_without_a_gap_between_the_models() -> None:
    assert math.isnan(metrics.apgr(PERFECT, STRONG, STRONG))


def test_cpt_is_the_share_of_strong_calls_that_reaches_the_pgr() -> None:
    assert metrics.cpt(PERFECT, WEAK, STRONG, pgr=0.5) == pytest.approx(0.25)
    assert metrics.cpt(PERFECT, WEAK, STRONG, pgr=0.8) == pytest.approx(0.4)
    assert metrics.cpt(REVERSED, WEAK, STRONG, pgr=0.5) == pytest.approx(0.75)
    assert metrics.cpt(CONSTANT, WEAK, STRONG, pgr=0.8) == pytest.approx(0.8)


def test_cpt_takes_the_first_crossing_of_a_curve_that_falls_back() -> None:
    # PGR goes 0 -> 1 -> 0 -> 1; np.interp (RouteLLM) assumes it only rises.
    share = metrics.cpt([3.0, 2.0, 1.0], [0, 1, 0], [1, 0, 1], pgr=0.5)

    assert share == pytest.approx(1 / 6)


def test_strong_share_for_quality() -> None:
    assert metrics.strong_share_for_quality(PERFECT, WEAK, STRONG) == pytest.approx(0.45)
    assert metrics.strong_share_for_quality(CONSTANT, WEAK, STRONG) == pytest.approx(0.9)
    assert metrics.strong_share_for_quality(REVERSED, WEAK, STRONG, target=0.6) == pytest.approx(
        0.6
    )


def test_strong_share_is_zero_when_the_weak_model_is_good_enough() -> None:
    weak, strong = [1] * 19 + [0], [1] * 20

    assert metrics.strong_share_for_quality(np.arange(20.0), weak, strong) == 0.0


def test_routing_metrics_refuse_mismatched_or_non_binary_inputs() -> None:
    with pytest.raises(ValueError, match="same non-zero length"):
        metrics.apgr([0.1, 0.2], [0, 1], [1])
    with pytest.raises(ValueError, match="0/1"):
        metrics.apgr([0.1, 0.2], [0, 2], [1, 1])
    with pytest.raises(ValueError, match="shape"):
        metrics.apgr([0.1], [0, 1], [1, 1])
    with pytest.raises(ValueError, match="finite"):
        metrics.apgr([0.1, math.nan], [0, 1], [1, 1])


def test_auroc() -> None:
    positive = [0, 0, 1, 1]

    assert metrics.auroc(positive, [0.1, 0.2, 0.8, 0.9]) == 1.0
    assert metrics.auroc(positive, [0.9, 0.8, 0.2, 0.1]) == 0.0
    assert metrics.auroc(positive, CONSTANT) == 0.5
    assert math.isnan(metrics.auroc([1, 1, 1, 1], [0.1, 0.2, 0.8, 0.9]))


def test_spearman() -> None:
    assert metrics.spearman([1, 2, 3, 4], [0.1, 0.2, 0.3, 0.9]) == pytest.approx(1.0)
    assert metrics.spearman([1, 2, 3, 4], [0.9, 0.3, 0.2, 0.1]) == pytest.approx(-1.0)
    assert math.isnan(metrics.spearman([1, 2, 3, 4], CONSTANT))
    assert math.isnan(metrics.spearman([5], [0.1]))


def test_mean_score_by_domain() -> None:
    means = metrics.mean_score_by_domain(["code", "factoid", "code"], [0.8, 0.1, 0.6])

    assert means == {"code": pytest.approx(0.7), "factoid": pytest.approx(0.1)}


def test_weighted_auroc_counts_a_row_as_often_as_its_weight() -> None:
    weighted = metrics.auroc([0, 1, 0], [0.2, 0.5, 0.9], weights=[3, 1, 1])

    assert weighted == pytest.approx(metrics.auroc([0, 0, 0, 1, 0], [0.2, 0.2, 0.2, 0.5, 0.9]))


def test_expected_calibration_error() -> None:
    outcomes = [0, 1] * 50

    assert metrics.expected_calibration_error(outcomes, [0.5] * 100) == pytest.approx(0.0)
    assert metrics.expected_calibration_error(outcomes, [0.9] * 100) == pytest.approx(0.4)
    assert metrics.expected_calibration_error([0, 0, 1, 1], [0.0, 0.0, 1.0, 1.0]) == 0.0


def test_calibration_bins_put_one_in_the_last_bin() -> None:
    cut = metrics.calibration_bins([1, 0], [1.0, 0.05], bins=10)

    assert cut.weight[-1] == 1 and cut.weight[0] == 1
    assert np.isnan(cut.mean_score[5])


def test_share_to_recover_escalates_the_highest_scores_first() -> None:
    failed = [1, 1, 0, 0]

    assert metrics.share_to_recover([0.9, 0.8, 0.2, 0.1], failed, target=1.0) == 0.5
    assert metrics.share_to_recover([0.1, 0.2, 0.8, 0.9], failed, target=1.0) == 1.0
    assert metrics.share_to_recover([0.9, 0.8, 0.2, 0.1], failed, target=0.5) == 0.25
    assert math.isnan(metrics.share_to_recover([0.5, 0.5], [0, 0], target=0.8))
