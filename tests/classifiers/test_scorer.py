from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sklearn.linear_model import LinearRegression, Ridge

from classifiers.artifacts.store import load_artifact
from classifiers.encoder import Encoder, HashingEncoder
from classifiers.errors import ClassifierError
from classifiers.scorer import Scorer
from tests.classifiers.conftest import labelled_prompts, save, with_length

HELD_OUT_EASY = ["What is the capital of Italy?", "Spell the word Italy."]
HELD_OUT_HARD = [
    "Prove that for every prime p the field built from Italy has exactly p^n elements,"
    " and derive the general bound step by step.",
    "Design a lock-free concurrent algorithm for Italy, prove it linearisable and analyse"
    " its worst-case complexity.",
]


class _ConstantEstimator:
    """Predicts ``value`` for every row; for the cases no fitted estimator produces."""

    def __init__(self, value: Any) -> None:
        self.value = value

    def predict(self, X: np.ndarray) -> np.ndarray:
        return np.full(len(X), self.value)


def test_scores_are_one_per_text_within_the_unit_interval(
    hashing_encoder: HashingEncoder, fitted_ridge: Ridge
) -> None:
    scores = Scorer(hashing_encoder, fitted_ridge).score(HELD_OUT_EASY + HELD_OUT_HARD)
    assert scores.shape == (4,) and scores.dtype == np.float64
    assert np.all((scores >= 0.0) & (scores <= 1.0))
    assert scores[2:].min() > scores[:2].max()


def test_predictions_outside_the_unit_interval_are_clipped(
    hashing_encoder: HashingEncoder,
) -> None:
    texts, targets = labelled_prompts()
    X = hashing_encoder.encode(texts)
    stretched = LinearRegression().fit(X, targets * 3.0 - 1.0)
    raw = stretched.predict(X)
    assert raw.min() < 0.0 and raw.max() > 1.0
    scores = Scorer(hashing_encoder, stretched).score(texts)
    np.testing.assert_allclose(scores, np.clip(raw, 0.0, 1.0))


def test_score_one_agrees_with_the_batch(
    hashing_encoder: HashingEncoder, fitted_ridge: Ridge
) -> None:
    scorer = Scorer(hashing_encoder, fitted_ridge)
    batch = scorer.score(HELD_OUT_HARD)
    assert scorer.score_one(HELD_OUT_HARD[1]) == pytest.approx(batch[1])
    assert isinstance(scorer.score_one(HELD_OUT_HARD[1]), float)


def test_embed_and_score_returns_the_encoder_rows_with_the_scores(
    hashing_encoder: HashingEncoder, fitted_ridge: Ridge
) -> None:
    scorer = Scorer(hashing_encoder, fitted_ridge)
    embeddings, scores = scorer.embed_and_score(HELD_OUT_EASY)
    np.testing.assert_array_equal(embeddings, hashing_encoder.encode(HELD_OUT_EASY))
    np.testing.assert_array_equal(scores, scorer.score(HELD_OUT_EASY))


def test_the_estimator_sees_what_feature_fn_builds(hashing_encoder: HashingEncoder) -> None:
    texts, targets = labelled_prompts()
    estimator = Ridge(alpha=1.0).fit(with_length(texts, hashing_encoder.encode(texts)), targets)
    scores = Scorer(hashing_encoder, estimator, with_length).score(texts)
    expected = estimator.predict(with_length(texts, hashing_encoder.encode(texts)))
    np.testing.assert_allclose(scores, np.clip(expected, 0.0, 1.0))


def test_no_texts_give_no_scores(hashing_encoder: HashingEncoder, fitted_ridge: Ridge) -> None:
    embeddings, scores = Scorer(hashing_encoder, fitted_ridge).embed_and_score([])
    assert embeddings.shape == (0, 384) and scores.shape == (0,)


def test_a_loaded_artifact_carries_its_version(
    models_dir: Path, hashing_encoder: HashingEncoder, fitted_ridge: Ridge
) -> None:
    save(models_dir, "2026-11-29.1", fitted_ridge)
    artifact = load_artifact(
        models_dir / "2026-11-29.1",
        encoder_name=hashing_encoder.name,
        encoder_dimension=hashing_encoder.dimension,
    )
    scorer = Scorer.from_artifact(hashing_encoder, artifact)
    assert scorer.version == "2026-11-29.1"
    expected = Scorer(hashing_encoder, fitted_ridge).score(HELD_OUT_HARD)
    np.testing.assert_array_equal(scorer.score(HELD_OUT_HARD), expected)


def test_features_of_the_wrong_width_fail_naming_the_version(
    hashing_encoder: HashingEncoder, fitted_ridge: Ridge
) -> None:
    scorer = Scorer(hashing_encoder, fitted_ridge, with_length, version="v3")
    with pytest.raises(
        ClassifierError, match=r"classifier v3: predict failed .*\(1, 385\)"
    ) as info:
        scorer.score_one("hello")
    assert isinstance(info.value.__cause__, ValueError)


def test_a_feature_fn_that_drops_rows_is_refused(
    hashing_encoder: HashingEncoder, fitted_ridge: Ridge
) -> None:
    scorer = Scorer(hashing_encoder, fitted_ridge, lambda texts, rows: rows[:1])
    with pytest.raises(ClassifierError, match="feature_fn returned 1 rows for 2 texts"):
        scorer.score(HELD_OUT_EASY)


@pytest.mark.parametrize("value", [np.nan, np.inf])
def test_non_finite_predictions_are_refused(hashing_encoder: HashingEncoder, value: float) -> None:
    scorer = Scorer(hashing_encoder, _ConstantEstimator(value), version="v4")
    with pytest.raises(ClassifierError, match="classifier v4: predict returned 2 non-finite"):
        scorer.score(HELD_OUT_EASY)


def test_non_numeric_predictions_are_refused(hashing_encoder: HashingEncoder) -> None:
    scorer = Scorer(hashing_encoder, _ConstantEstimator("hard"))
    with pytest.raises(ClassifierError, match="classifier unversioned: predict failed"):
        scorer.score(HELD_OUT_EASY)


@pytest.mark.slow
def test_real_encoder_and_a_fitted_estimator_rank_hard_prompts_higher(
    real_encoder: Encoder,
) -> None:
    texts, targets = labelled_prompts()
    estimator = Ridge(alpha=1.0).fit(with_length(texts, real_encoder.encode(texts)), targets)
    scores = Scorer(real_encoder, estimator, with_length).score(HELD_OUT_EASY + HELD_OUT_HARD)
    assert scores[2:].min() > scores[:2].max()


class _TextReadingEstimator(_ConstantEstimator):
    """Scores by the length of each text; records what ``predict_text`` was given."""

    def __init__(self) -> None:
        super().__init__(0.0)
        self.seen: list[tuple[list[str], tuple[int, ...]]] = []

    def predict_text(self, texts: list[str], X: np.ndarray) -> np.ndarray:
        self.seen.append((list(texts), X.shape))
        return np.array([len(text) / 100 for text in texts])


def test_an_estimator_that_reads_texts_is_given_them_beside_the_features(
    hashing_encoder: HashingEncoder,
) -> None:
    estimator = _TextReadingEstimator()
    texts = ["a short one", "a somewhat longer prompt to score"]

    scores = Scorer(hashing_encoder, estimator).score(texts)

    assert estimator.seen == [(texts, (2, hashing_encoder.dimension))]
    np.testing.assert_allclose(scores, [0.11, 0.33])
