from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from classifiers.difficulty import (
    GAIN_COLUMN,
    GROUP_COLUMN,
    OUTCOME_COLUMN,
    TOPIC_COLUMN,
    DifficultyEstimator,
)
from classifiers.errors import DataError, RowError
from classifiers.features import text_features
from tests.training.log_fixtures import DIMENSION, START, World, logged_row, write_export
from training import metrics
from training.logs import (
    CENSORED_WEIGHT,
    DEFAULT_RECOVERY,
    MAX_PROPENSITY_WEIGHT,
    FeedbackEvent,
    LabelledLogs,
    LoggedDecision,
    decode_embedding,
    encode_embedding,
    gate_groups,
    log_targets,
    observed_outcome,
    read_logs,
    recovery_rate,
    require_rows,
)

RNG = np.random.default_rng(0)


def unit(n: int = 0) -> np.ndarray:
    vector = np.random.default_rng(n).normal(size=DIMENSION)
    return vector / np.linalg.norm(vector)


def row(n: int, **overrides: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "embedding": unit(n),
        "features": [0.5] * 10,
        "score": 0.1,
        "tier_index": 0,
        "outcome": True,
    }
    fields.update(overrides)
    return logged_row(n, **fields)


def event(minute: int, **fields: Any) -> FeedbackEvent:
    return FeedbackEvent(time=START + timedelta(minutes=minute), **fields)


# --- one outcome per row -------------------------------------------------------------------


def test_the_latest_verifier_result_beats_outcomes_and_ratings() -> None:
    events = [
        event(3, verifier={"name": "tests", "passed": True}),
        event(1, outcome="failure", rating=-1.0),
        event(2, verifier={"name": "tests", "passed": False}),
        event(4, outcome="failure"),
    ]

    assert observed_outcome(events) is True


def test_explicit_outcomes_vote_and_a_tie_goes_to_the_latest() -> None:
    assert (
        observed_outcome(
            [
                event(1, outcome="failure"),
                event(2, outcome="failure"),
                event(3, outcome="success", rating=1.0),
            ]
        )
        is False
    )
    assert observed_outcome([event(2, outcome="failure"), event(1, outcome="success")]) is False


def test_ratings_count_by_sign_and_a_zero_rating_says_nothing() -> None:
    assert observed_outcome([event(1, rating=0.4), event(2, rating=-0.2), event(3, rating=0.9)])
    assert observed_outcome([event(1, rating=0.0)]) is None
    assert observed_outcome([]) is None


# --- reading an export ----------------------------------------------------------------------


def test_embeddings_round_trip_through_float16_base64() -> None:
    vector = unit(3)

    decoded = decode_embedding(encode_embedding(vector), DIMENSION)

    assert decoded.dtype == np.float32
    assert np.allclose(decoded, vector, atol=1e-3)


def test_read_logs_keeps_labelled_rows_and_counts_the_others(tmp_path: Path) -> None:
    export = write_export(
        tmp_path / "export.jsonl",
        [
            row(0, outcome=True),
            row(1, outcome=None),  # no feedback: not a negative, just nothing
            row(2, outcome=False, tier_index=2, choice_probability=0.1),
            row(3, outcome=False, status="UpstreamTimeoutError"),
            row(4, outcome=None, feedback=[{"rating": 0.0, "time": START.isoformat()}]),
        ],
    )

    data = read_logs(export, dimension=DIMENSION)

    assert data.labelled.request_ids == ("req-0", "req-2")
    assert data.labelled.success.tolist() == [True, False]
    assert data.labelled.X.shape == (2, DIMENSION + 10)
    assert np.allclose(data.labelled.X[1, :DIMENSION], unit(2), atol=1e-3)
    summary = data.summary
    assert (summary.rows, summary.labelled, summary.without_feedback, summary.not_ok) == (
        5,
        2,
        2,
        1,
    )
    assert {t.index: t.rows for t in summary.tiers} == {0: 3, 2: 1}
    assert summary.first_time is not None and summary.first_time.startswith("2026-11-01T00:00")


def test_missing_features_are_computed_from_the_prompt(tmp_path: Path) -> None:
    prompt = "Prove that $x^2 \\geq 0$ for every real x.\nShow each step."
    export = write_export(tmp_path / "e.jsonl", [row(0, features=None, prompt=prompt)])

    X = read_logs(export, dimension=DIMENSION).labelled.X

    assert np.allclose(X[0, DIMENSION:], text_features(prompt))


def test_a_row_without_features_or_prompt_is_an_error_naming_its_line(tmp_path: Path) -> None:
    export = write_export(tmp_path / "e.jsonl", [row(0), row(1, features=None, prompt=None)])

    with pytest.raises(RowError, match="both null") as caught:
        read_logs(export, dimension=DIMENSION)

    assert caught.value.line == 2
    assert str(export) in caught.value.message


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"embedding": "not base64!"}, "not base64"),
        ({"embedding": encode_embedding(np.zeros(DIMENSION + 1))}, "float16 values take"),
        ({"choice_probability": 0.0}, "field 'choice_probability'"),
        ({"features": [1.0, 2.0]}, "field 'features'.*10"),
        ({"time": "yesterday"}, "field 'time'"),
    ],
)
def test_a_malformed_row_is_a_row_error_that_says_what_is_wrong(
    tmp_path: Path, change: dict[str, Any], problem: str
) -> None:
    export = write_export(tmp_path / "e.jsonl", [{**row(0), **change}])

    with pytest.raises(RowError, match=problem):
        read_logs(export, dimension=DIMENSION)


def test_skip_mode_reports_every_bad_row_and_reads_the_rest(tmp_path: Path) -> None:
    path = tmp_path / "e.jsonl"
    lines = [json.dumps(row(0)), "{not json", json.dumps({**row(2), "tier_index": -1})]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    skipped: list[RowError] = []

    data = read_logs(path, dimension=DIMENSION, on_error="skip", on_skip=skipped.append)

    assert [error.line for error in skipped] == [2, 3]
    assert data.summary.skipped == 2 and len(data.labelled) == 1


def test_a_naive_time_is_read_as_utc() -> None:
    data = {**row(0), "time": "2026-11-01T10:00:00"}

    assert LoggedDecision.model_validate(data).time.utcoffset() == timedelta(0)


def test_an_export_without_outcomes_cannot_train(tmp_path: Path) -> None:
    export = write_export(tmp_path / "e.jsonl", [row(0, outcome=None), row(1, outcome=None)])
    data = read_logs(export, dimension=DIMENSION)

    with pytest.raises(DataError, match="none of the 2 logged decisions"):
        require_rows(data, export)


# --- labels --------------------------------------------------------------------------------


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
