from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from classifiers.difficulty import (
    GAIN_COLUMN,
    GROUP_COLUMN,
    OUTCOME_COLUMN,
    TOPIC_COLUMN,
    DifficultyEstimator,
)
from tests.training.log_fixtures import DIMENSION, World, write_export
from training import metrics
from training.log_labels import (
    CENSORED_WEIGHT,
    DEFAULT_RECOVERY,
    anchored_recovery,
    gate_groups,
    log_targets,
    recovery_rate,
)
from training.logs import MAX_PROPENSITY_WEIGHT, LabelledLogs, read_logs


def labelled(tiers: list[int], success: list[bool], probability: list[float]) -> LabelledLogs:
    n = len(tiers)
    return LabelledLogs(
        X=np.arange(n, dtype=np.float32)[:, None] * np.ones((1, 3), dtype=np.float32),
        time=np.arange(n, dtype=np.float64),
        tier_index=np.array(tiers),
        choice_probability=np.array(probability),
        success=np.array(success),
        logged_score=np.zeros(n),
        request_ids=tuple(str(i) for i in range(n)),
    )


def test_labels_follow_the_censoring_table() -> None:
    # cheap success, cheap failure, mid-tier failure, top-tier failure, mid-tier success
    logs = labelled([0, 0, 1, 3, 2], [True, False, False, False, True], [1.0] * 5)

    X, y, weight = log_targets(
        logs, base_scores=[0.9, 0.9, 0.9, 0.9, 0.3], groups=[1] * 5, top_tier=3, recovery=0.75
    )

    scale = 5 / (4 + CENSORED_WEIGHT)  # weights average 1 over the five logged rows
    by_row: dict[int, list[tuple[float, float]]] = {}
    for x, target, w in zip(X[:, 0].astype(int), y, weight / scale, strict=True):
        by_row.setdefault(int(x), []).append((float(target[OUTCOME_COLUMN]), float(w)))
    assert by_row[0] == [(0.0, 1.0)]  # the cheap tier was enough: no gain
    # the cheap tier failed: a gain only if a stronger tier recovers it, which it does 3 in 4
    assert sorted(by_row[1]) == [(0.0, 0.25), (1.0, 0.75)]
    assert sorted(by_row[2]) == [(0.0, 0.25), (1.0, 0.75)]  # the cheap tier failed too
    assert by_row[3] == [(0.0, 1.0)]  # the strongest tier failed: nothing recovers it
    censored = sorted(by_row[4])  # the base's 0.3 as a soft label, at half weight
    assert [c for c, _ in censored] == [0.0, 1.0]
    assert [w for _, w in censored] == pytest.approx([CENSORED_WEIGHT * 0.7, CENSORED_WEIGHT * 0.3])
    assert weight.sum() == pytest.approx(5.0)
    assert np.array_equal(y[:, GAIN_COLUMN], y[:, OUTCOME_COLUMN])
    assert (y[:, GROUP_COLUMN] == 1).all() and np.isnan(y[:, TOPIC_COLUMN]).all()


def test_recovery_is_how_much_less_often_the_tiers_above_the_cheapest_fail() -> None:
    # cheap tier: 2 failures in 4; above it: 1 failure in 4 -> a stronger tier recovers half
    logs = labelled(
        [0, 0, 0, 0, 1, 2, 2, 3], [False, False, True, True, False] + [True] * 3, [1.0] * 8
    )
    only_cheap = labelled([0, 0], [False, True], [1.0, 1.0])

    assert recovery_rate(logs) == pytest.approx(0.5)
    assert recovery_rate(only_cheap) == DEFAULT_RECOVERY


def test_anchored_recovery_keeps_the_base_level_within_the_logs_bound() -> None:
    failure = np.array([0.2, 0.4, 0.6])  # P(cheap tier fails | prompt): mean 0.4
    weights = np.ones(3)
    # the base's mean score 0.2 over the same rows: a recovery of 0.5 keeps it
    assert anchored_recovery(0.3, [0.1, 0.2, 0.3], failure, weights) == pytest.approx(0.5)
    # the log says at least 0.7 are recovered: the bound wins over the base's lower level
    assert anchored_recovery(0.7, [0.1, 0.2, 0.3], failure, weights) == pytest.approx(0.7)
    # a base above every failure is capped at 1
    assert anchored_recovery(0.3, [0.9, 0.9, 0.9], failure, weights) == 1.0
    # the weights are the rows' inverse propensities
    assert anchored_recovery(0.0, [0.0, 0.0, 0.3], failure, [0.0, 0.0, 1.0]) == pytest.approx(0.5)


def test_explored_rows_weigh_their_inverse_propensity_clipped() -> None:
    logs = labelled([0, 0, 0], [True, False, True], [1.0, 0.25, 0.01])

    X, _, weight = log_targets(logs, base_scores=[0.1] * 3, groups=[0] * 3, recovery=1.0)

    by_row = dict(zip(X[:, 0].astype(int).tolist(), weight.tolist(), strict=True))
    relative = {row: w / by_row[0] for row, w in by_row.items()}
    assert relative == pytest.approx({0: 1.0, 1: 4.0, 2: MAX_PROPENSITY_WEIGHT})
    assert weight.mean() == pytest.approx(1.0)


def test_log_targets_need_one_base_score_and_group_per_row() -> None:
    with pytest.raises(ValueError, match="one base score and one group per row"):
        log_targets(labelled([0], [True], [1.0]), base_scores=[0.1, 0.2], groups=[0])


def test_logged_labels_teach_an_estimator_the_hidden_difficulty(tmp_path: Path) -> None:
    world = World(seed=1)
    base = world.fit_base(tmp_path / "models")
    export = write_export(tmp_path / "e.jsonl", world.traffic(base, 500, exploration=0.3))
    logs = read_logs(export, dimension=DIMENSION).labelled

    X, y, weight = log_targets(
        logs, base_scores=base.predict(logs.X), groups=gate_groups(base, logs.X), top_tier=3
    )
    fitted = DifficultyEstimator(**base.get_params()).fit(X, y, sample_weight=weight)

    emb, features = world.prompts(400)
    fails = world.rng.random(400) < world.cheap_fail_probability(emb)
    fresh = np.hstack([emb, features])
    before = metrics.auroc(fails, base.predict(fresh))
    after = metrics.auroc(fails, fitted.predict(fresh))
    print(f"AUROC for cheap-tier failure on fresh prompts: base {before:.3f}, refit {after:.3f}")
    # a cheap-tier failure is a soft label (the log's recovery rate), so the rise is smaller than
    # with hard 0/1 labels: 0.598 -> 0.693 when written
    assert after > 0.65 and after > before + 0.08
