from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression

from classifiers.difficulty import GROUPS, DifficultyEstimator, RidgeExpert, linear_proba

CHAT, KNOWLEDGE, MATH = (GROUPS.index(name) for name in ("chat", "knowledge", "math"))


def grouped_data(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Three separable groups; knowledge rows carry outcomes that follow feature 3."""
    rng = np.random.default_rng(seed)
    X, y = [], []
    for group, centre, gain in ((CHAT, -3.0, 0.05), (MATH, 3.0, 0.6)):
        for _ in range(40):
            row = rng.normal(size=6)
            row[0] += centre
            X.append(row)
            y.append((group, gain + 0.05 * row[1], math.nan, math.nan))
    for i in range(120):
        row = rng.normal(size=6)
        row[2] += 3.0
        outcome = 1.0 if row[3] > 0.3 else (-1.0 if row[3] < -1.2 else 0.0)
        X.append(row)
        y.append((KNOWLEDGE, max(outcome, 0.0), outcome, float(i % 3)))
    return np.array(X), np.array(y)


def test_fit_returns_self_and_learned_attributes_end_in_underscore() -> None:
    X, y = grouped_data()
    estimator = DifficultyEstimator(min_group_rows=10)

    assert estimator.fit(X, y) is estimator
    assert {"scaler_", "gate_", "experts_", "n_features_in_"} <= set(vars(estimator))
    assert all(name.endswith("_") for name in vars(estimator) if name not in estimator.get_params())


def test_init_only_stores_parameters_and_clones() -> None:
    estimator = DifficultyEstimator(gate_c=0.5, outcome_c=0.01, topic_c=0.2, ridge_alpha=3.0)

    assert vars(estimator) == estimator.get_params()
    assert clone(estimator).get_params() == estimator.get_params()


def test_predict_before_fit_is_refused() -> None:
    with pytest.raises(NotFittedError):
        DifficultyEstimator().predict(np.zeros((1, 6)))


def test_scores_are_in_unit_interval_and_order_the_groups() -> None:
    X, y = grouped_data()
    scores = DifficultyEstimator(min_group_rows=10).fit(X, y).predict(X)
    groups = y[:, 0].astype(int)

    assert scores.min() >= 0.0 and scores.max() <= 1.0
    assert scores[groups == MATH].mean() > scores[groups == CHAT].mean() + 0.3


def test_outcome_expert_ranks_gains_above_losses() -> None:
    X, y = grouped_data()
    knowledge = y[:, 0] == KNOWLEDGE
    scores = DifficultyEstimator(min_group_rows=10, outcome_c=1.0).fit(X, y).predict(X)

    gained = scores[knowledge & (y[:, 2] == 1)]
    lost = scores[knowledge & (y[:, 2] == -1)]
    assert gained.mean() > lost.mean()


def test_wrong_target_shape_names_the_columns() -> None:
    X, y = grouped_data()
    with pytest.raises(ValueError, match="group, gain, outcome, topic"):
        DifficultyEstimator().fit(X, y[:, :3])


def test_feature_count_is_checked_at_predict() -> None:
    X, y = grouped_data()
    estimator = DifficultyEstimator(min_group_rows=10).fit(X, y)
    with pytest.raises(ValueError, match="features"):
        estimator.predict(X[:, :4])


def test_the_general_group_expert_learns_from_every_row() -> None:
    X, y = grouped_data()
    maths_like = X[y[:, 0] == MATH]
    general = DifficultyEstimator(min_group_rows=10, general_group="chat").fit(X, y)
    chat_only = DifficultyEstimator(min_group_rows=10, general_group=None).fit(X, y)
    Z_general = general.scaler_.transform(maths_like)
    Z_chat_only = chat_only.scaler_.transform(maths_like)

    assert general.experts_[CHAT].gain(Z_general).mean() > 0.2
    assert chat_only.experts_[CHAT].gain(Z_chat_only).mean() < 0.2


def test_linear_proba_matches_scikit_learn() -> None:
    rng = np.random.default_rng(1)
    Z = rng.normal(size=(50, 5))
    multi = LogisticRegression().fit(Z, rng.integers(0, 4, size=50))
    binary = LogisticRegression().fit(Z, rng.integers(0, 2, size=50))

    assert np.allclose(linear_proba(multi, Z), multi.predict_proba(Z))
    assert np.allclose(linear_proba(binary, Z), binary.predict_proba(Z))


def test_predict_matches_the_experts_computed_by_scikit_learn() -> None:
    X, y = grouped_data()
    estimator = DifficultyEstimator(min_group_rows=10).fit(X, y)
    Z = estimator.scaler_.transform(X)
    gate = estimator.gate_.predict_proba(Z)
    ridge = estimator.experts_[MATH]
    assert isinstance(ridge, RidgeExpert)

    assert np.allclose(estimator.predict_groups(X), gate)
    assert np.allclose(ridge.gain(Z), np.clip(ridge.model.predict(Z), 0, 1))


def grouped_texts(y: np.ndarray) -> list[str]:
    """A text per row of ``grouped_data``: the rows the stronger model wins say EXCEPT."""
    return [
        f"{GROUPS[int(group)]} question {i}" + (" EXCEPT" if outcome == 1 else "")
        for i, (group, _, outcome, _) in enumerate(y)
    ]


def test_texts_fit_a_lexical_estimate_for_each_outcome_expert_only() -> None:
    X, y = grouped_data()
    estimator = DifficultyEstimator(min_group_rows=10, lexical_c=1.0).fit(
        X, y, texts=grouped_texts(y)
    )

    assert set(estimator.lexical_) == {KNOWLEDGE}
    assert estimator.lexical_[KNOWLEDGE].vectorizer_.vocabulary_


def test_predict_text_averages_the_lexical_estimate_into_the_outcome_expert() -> None:
    X, y = grouped_data()
    texts = grouped_texts(y)
    estimator = DifficultyEstimator(min_group_rows=10, lexical_c=1.0).fit(X, y, texts=texts)
    knowledge = y[:, 0] == KNOWLEDGE
    cue = np.array(["EXCEPT" in text for text in texts])
    rows = np.flatnonzero(knowledge)
    knowledge_texts = [texts[i] for i in rows]

    Z = estimator._standardised(X[rows])
    expert = estimator.experts_[KNOWLEDGE]
    lexical = estimator.lexical_[KNOWLEDGE].gain(knowledge_texts)
    gate = estimator.predict_groups(X[rows])
    others = sum(
        gate[:, i] * estimator.experts_[int(g)].gain(Z)
        for i, g in enumerate(estimator.gate_.classes_)
        if g != KNOWLEDGE
    )
    expected = others + gate[:, list(estimator.gate_.classes_).index(KNOWLEDGE)] * (
        expert.gain(Z, lexical)
    )

    with_text = estimator.predict_text(knowledge_texts, X[rows])
    assert np.allclose(with_text, np.clip(expected, 0, 1))
    assert not np.allclose(with_text, estimator.predict(X[rows]))
    lift = with_text - estimator.predict(X[rows])
    assert lift[cue[rows]].mean() > lift[~cue[rows]].mean()


def test_without_texts_or_with_lexical_c_none_predict_text_is_predict() -> None:
    X, y = grouped_data()
    texts = grouped_texts(y)
    no_texts = DifficultyEstimator(min_group_rows=10).fit(X, y)
    switched_off = DifficultyEstimator(min_group_rows=10, lexical_c=None).fit(X, y, texts=texts)

    for estimator in (no_texts, switched_off):
        assert estimator.lexical_ == {}
        assert np.array_equal(estimator.predict_text(texts, X), estimator.predict(X))


def test_lexical_estimates_can_be_carried_over_from_another_fit() -> None:
    X, y = grouped_data()
    texts = grouped_texts(y)
    base = DifficultyEstimator(min_group_rows=10).fit(X, y, texts=texts)
    carried = DifficultyEstimator(min_group_rows=10).fit(X, y, lexical=base.lexical_)

    assert carried.lexical_ == base.lexical_
    assert np.allclose(carried.predict_text(texts, X), base.predict_text(texts, X))


def test_an_estimator_saved_before_lexical_estimates_still_scores() -> None:
    X, y = grouped_data()
    texts = grouped_texts(y)
    estimator = DifficultyEstimator(min_group_rows=10).fit(X, y)
    del estimator.lexical_

    assert np.array_equal(estimator.predict_text(texts, X), estimator.predict(X))


def test_texts_must_match_the_rows() -> None:
    X, y = grouped_data()
    texts = grouped_texts(y)
    with pytest.raises(ValueError, match=f"{len(texts) - 1} texts for {len(X)} rows"):
        DifficultyEstimator(min_group_rows=10).fit(X, y, texts=texts[1:])
    estimator = DifficultyEstimator(min_group_rows=10).fit(X, y, texts=texts)
    with pytest.raises(ValueError, match=f"2 texts for {len(X)} rows"):
        estimator.predict_text(texts[:2], X)


def test_rows_of_a_single_group_fit_with_a_gate_that_always_names_it() -> None:
    """A user's rows without domains all land in the chat group; a gate over one class cannot be
    a logistic regression, so it answers that group with probability 1."""
    X, y = grouped_data()
    chat_only = y[:, 0] == CHAT
    estimator = DifficultyEstimator(min_group_rows=10).fit(X[chat_only], y[chat_only])

    assert list(estimator.predict_groups(X[:3]).ravel()) == [1.0, 1.0, 1.0]
    scores = estimator.predict(X[chat_only])
    assert np.corrcoef(scores, y[chat_only, 1])[0, 1] > 0.5, "the chat expert still fits"
