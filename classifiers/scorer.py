"""The scorer: texts in, difficulty scores in [0, 1] out (higher: more test-time compute pays off).

texts -> encoder.encode -> feature_fn(texts, embeddings) -> estimator.predict -> clip to [0, 1]

An estimator that also reads the texts themselves (``TextPredictor``, such as
``DifficultyEstimator`` with its lexical estimates) is asked through ``predict_text`` instead.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from classifiers.artifacts.store import LoadedArtifact
from classifiers.encoder import Embeddings, TextEncoder
from classifiers.errors import ClassifierError
from classifiers.predictor import Predictor, TextPredictor

Scores = NDArray[np.float64]
FeatureFn = Callable[[Sequence[str], Embeddings], NDArray[Any]]

UNVERSIONED = "unversioned"


def embeddings_only(texts: Sequence[str], embeddings: Embeddings) -> Embeddings:
    """The simplest ``feature_fn``: the estimator sees the embeddings and nothing else."""
    return embeddings


class Scorer:
    """Scores texts with one encoder and one fitted estimator; holds no other state."""

    def __init__(
        self,
        encoder: TextEncoder,
        estimator: Predictor,
        feature_fn: FeatureFn = embeddings_only,
        *,
        version: str = UNVERSIONED,
    ) -> None:
        self.encoder = encoder
        self.estimator = estimator
        self.feature_fn = feature_fn
        self.version = version

    @classmethod
    def from_artifact(
        cls, encoder: TextEncoder, artifact: LoadedArtifact, feature_fn: FeatureFn = embeddings_only
    ) -> Scorer:
        """A scorer for a loaded artifact, carrying its version."""
        return cls(encoder, artifact.estimator, feature_fn, version=artifact.manifest.version)

    def score(self, texts: Sequence[str]) -> Scores:
        return self.embed_and_score(texts)[1]

    def score_one(self, text: str) -> float:
        return float(self.score([text])[0])

    def embed_and_score(self, texts: Sequence[str]) -> tuple[Embeddings, Scores]:
        """The embeddings (which the decision log keeps) and the scores, one row per text."""
        embeddings = self.encoder.encode(texts)
        if len(embeddings) == 0:
            return embeddings, np.empty(0, dtype=np.float64)
        return embeddings, self._predict(texts, self.feature_fn(texts, embeddings))

    def _predict(self, texts: Sequence[str], features: NDArray[Any]) -> Scores:
        count = len(texts)
        if len(features) != count:
            raise self._error(f"feature_fn returned {len(features)} rows for {count} texts")
        try:
            if isinstance(self.estimator, TextPredictor):
                raw = np.asarray(self.estimator.predict_text(texts, features), dtype=np.float64)
            else:
                raw = np.asarray(self.estimator.predict(features), dtype=np.float64)
        except Exception as exc:
            raise self._error(
                f"predict failed on features of shape {features.shape}: {exc}"
            ) from exc
        return self._clipped(raw, count)

    def _clipped(self, raw: Scores, count: int) -> Scores:
        if raw.shape not in {(count,), (count, 1)}:
            raise self._error(f"predict returned shape {raw.shape} for {count} texts")
        non_finite = int(np.count_nonzero(~np.isfinite(raw)))
        if non_finite:
            raise self._error(f"predict returned {non_finite} non-finite scores of {count}")
        return np.clip(raw.reshape(count), 0.0, 1.0)

    def _error(self, problem: str) -> ClassifierError:
        return ClassifierError(f"classifier {self.version}: {problem}")
