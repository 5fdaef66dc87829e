"""A correction of the score where logged outcomes cover the traffic, the base kept elsewhere.

Retraining from a decision log (``training.retrain``) sees only the traffic that was served: one
app's maths, say. Refitting the whole estimator on that would teach it nothing about the rest
(and its gate cannot even be fitted on one kind of prompt). So the log teaches a ``Correction``
that sits on top of the fitted estimator:

    corrected(x) = c(x) * r * sigmoid(k * a * logit(b(x)) + w . p(x) + w0) + (1 - c(x)) * b(x)

- the score's quantity is P(cheap tier wrong AND a stronger tier right) = P(cheap tier wrong | x)
  times the recovery rate ``r`` = P(a stronger tier right | the cheap tier wrong), which
  ``training.log_labels.recovery_rate`` estimates from the same log. The sigmoid is P(cheap tier
  wrong | x): a logistic regression fitted on the logged rows the cheapest tier served (the only
  ones whose cheap-tier outcome is observed), each weighted by its inverse propensity;
- ``b(x)`` is the score before the correction; ``p(x)`` the text features and the embedding's
  leading principal components over the logged rows, each scaled to unit variance over them (so
  the regularisation weighs a feature by how it varies within this traffic): how many components
  (0 to ``MAX_COMPONENTS``, at most one per ``ROWS_PER_COMPONENT`` rows) and the regularisation
  are chosen by cross-validated log loss on the logged rows (a few hundred outcomes cannot fit
  384 weights). The base's logit enters scaled by ``k`` (``BASE_LOGIT_SCALE``), so the
  regularisation that keeps ``w`` small barely shrinks ``a``: with little evidence the failure
  model follows the base.
- ``c(x)`` in [0, 1] is the *coverage*: how close ``x`` is to the logged traffic, as the largest
  cosine similarity of its standardised embedding to centroids of the logged rows (one per
  ``ROWS_PER_CENTROID`` rows, at most ``MAX_CENTROIDS``: fine enough that a log of varied
  questions, MMLU's 57 subjects, does not cover unrelated requests), ramped linearly from ``low``
  (0) to ``high`` (1). ``high`` is a low percentile (``COVERAGE_PERCENTILE``) of the similarity of
  logged rows to centroids fitted on the *other* half of the log, as a new prompt of the logged
  kind would see them, so that kind is fully corrected; ``low`` is ``COVERAGE_LOW`` (0.9) times
  it, so prompts unlike any logged one keep the base's score exactly.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy.special import expit, logit
from sklearn.cluster import KMeans
from sklearn.linear_model import LogisticRegression

FloatArray = NDArray[np.float64]

BASE_LOGIT_SCALE = 10.0
COVERAGE_PERCENTILE = 25.0
COVERAGE_LOW = 0.9
MAX_CENTROIDS = 64
ROWS_PER_CENTROID = 20
MAX_COMPONENTS = 64
ROWS_PER_COMPONENT = 20
C_GRID = (0.001, 0.003, 0.01, 0.03, 0.1)
CV_FOLDS = 5
_EPS = 1e-4


@dataclass(frozen=True)
class Correction:
    """A fitted correction; ``apply`` maps scores before it to scores after it."""

    coef: FloatArray  # over [k * logit(b), p]
    intercept: float
    recovery: float
    center: FloatArray  # the logged rows' mean of z
    components: FloatArray  # (d, m): z - center -> p
    centroids: FloatArray  # unit vectors over the embedding columns of z
    low: float
    high: float
    embedding_columns: int

    def coverage(self, Z: FloatArray) -> FloatArray:
        similarity = _unit(Z[:, : self.embedding_columns]) @ self.centroids.T
        nearest = similarity.max(axis=1) if similarity.size else np.zeros(len(Z))
        ramp = (nearest - self.low) / max(self.high - self.low, _EPS)
        return np.asarray(np.clip(ramp, 0.0, 1.0), dtype=np.float64)

    def failure(self, scores: FloatArray, Z: FloatArray) -> FloatArray:
        """P(the cheapest tier fails | prompt): the fitted logistic regression."""
        logits = _design(scores, (Z - self.center) @ self.components) @ self.coef + self.intercept
        return np.asarray(expit(logits), dtype=np.float64)

    def refit(self, scores: FloatArray, Z: FloatArray) -> FloatArray:
        """The correction's own estimate, everywhere (before coverage blends it in)."""
        return self.recovery * self.failure(scores, Z)

    def apply(self, scores: FloatArray, Z: FloatArray) -> FloatArray:
        covered = self.coverage(Z)
        blended = np.where(covered > 0, self.refit(scores, Z), scores)
        return np.asarray(covered * blended + (1.0 - covered) * scores, dtype=np.float64)


def fit_correction(
    scores: FloatArray,
    Z: FloatArray,
    failed: FloatArray,
    weights: FloatArray,
    *,
    recovery: float,
    embedding_columns: int,
    seed: int = 0,
) -> Correction:
    """Fit on the logged rows the cheapest tier served: their scores before the correction,
    standardised ``Z``, whether the cheap tier ``failed`` (0/1) and their ``weights``."""
    classes = np.asarray(failed, dtype=int)
    if len(np.unique(classes)) < 2:
        raise ValueError(
            "the cheapest tier's logged outcomes are all failures or all successes:"
            " nothing tells which prompts it fails"
        )
    limit = min(len(failed) // ROWS_PER_COMPONENT, MAX_COMPONENTS, embedding_columns)
    center, components, c = _choose(scores, Z, classes, weights, embedding_columns, limit, seed)
    X = _design(scores, (Z - center) @ components)
    model = LogisticRegression(C=c, max_iter=3000).fit(X, classes, sample_weight=weights)
    centroids, low, high = _coverage(Z[:, :embedding_columns], seed)
    return Correction(
        coef=np.asarray(model.coef_[0], dtype=np.float64),
        intercept=float(model.intercept_[0]),
        recovery=float(recovery),
        center=center,
        components=components,
        centroids=centroids,
        low=low,
        high=high,
        embedding_columns=embedding_columns,
    )


def _choose(
    scores: FloatArray,
    Z: FloatArray,
    y: NDArray[np.int_],
    w: FloatArray,
    embedding_columns: int,
    limit: int,
    seed: int,
) -> tuple[FloatArray, FloatArray, float]:
    """The number of principal components (0, 2, 4, ... up to ``limit``) and the C of ``C_GRID``
    with the lowest weighted log loss over ``CV_FOLDS`` folds; a few hundred prompts of one kind
    favour few components, a varied log more."""
    counts = [0] + [k for k in (2, 4, 8, 16, 32, 64) if k <= limit]
    folds = np.random.default_rng(seed).permutation(len(y)) % CV_FOLDS
    best: tuple[float, FloatArray, FloatArray, float] | None = None
    for count in counts:
        center, components = _components(Z, embedding_columns, count)
        X = _design(scores, (Z - center) @ components)
        for c in C_GRID:
            loss = _cv_loss(X, y, w, folds, c)
            if best is None or loss < best[0]:
                best = (loss, center, components, c)
    assert best is not None
    return best[1], best[2], best[3]


def _cv_loss(
    X: FloatArray, y: NDArray[np.int_], w: FloatArray, folds: NDArray[np.int_], c: float
) -> float:
    total = 0.0
    for fold in range(CV_FOLDS):
        train, held = folds != fold, folds == fold
        if len(np.unique(y[train])) < 2 or not held.any():
            continue
        model = LogisticRegression(C=c, max_iter=3000).fit(X[train], y[train], w[train])
        p = np.clip(model.predict_proba(X[held])[:, 1], _EPS, 1 - _EPS)
        total -= float(np.sum(w[held] * (y[held] * np.log(p) + (1 - y[held]) * np.log(1 - p))))
    return total


def _components(Z: FloatArray, embedding_columns: int, count: int) -> tuple[FloatArray, FloatArray]:
    """The projection ``p``: the text features as they are, and the embedding's leading
    ``count`` principal components over the logged rows."""
    center = Z.mean(axis=0)
    _, _, vt = np.linalg.svd(Z[:, :embedding_columns] - center[:embedding_columns])
    features = Z.shape[1] - embedding_columns
    projection = np.zeros((Z.shape[1], count + features))
    projection[:embedding_columns, :count] = vt[:count].T
    projection[embedding_columns:, count:] = np.eye(features)
    # each column scaled to unit variance over the logged rows: the regularisation then weighs a
    # feature by how much it varies within this traffic (a GSM8K log's lengths vary far less
    # than the seed data's, which the base standardised over)
    spread = ((Z - center) @ projection).std(axis=0)
    projection /= np.where(spread > _EPS, spread, 1.0)
    return np.asarray(center, dtype=np.float64), projection


def _design(scores: FloatArray, Z: FloatArray) -> FloatArray:
    base = logit(np.clip(np.asarray(scores, dtype=np.float64), _EPS, 1 - _EPS))
    return np.column_stack([BASE_LOGIT_SCALE * base, Z])


def _coverage(E: FloatArray, seed: int) -> tuple[FloatArray, float, float]:
    points = _unit(E)
    centroids = _centroids(points, seed)
    # ``high`` from each half's similarity to centroids of the other half: a logged row's own
    # centroid sits closer to it than to a new prompt of the same kind
    halves = np.random.default_rng(seed).permutation(len(points)) % 2
    unseen = [
        (points[halves == h] @ _centroids(points[halves != h], seed).T).max(axis=1)
        for h in (0, 1)
        if (halves != h).sum() >= 2 and (halves == h).any()
    ]
    own = np.concatenate(unseen) if unseen else (points @ centroids.T).max(axis=1)
    high = max(float(np.percentile(own, COVERAGE_PERCENTILE)), 0.05)
    return centroids, COVERAGE_LOW * high, high


def _centroids(points: FloatArray, seed: int) -> FloatArray:
    k = int(np.clip(len(points) // ROWS_PER_CENTROID, 1, MAX_CENTROIDS))
    kmeans = KMeans(n_clusters=min(k, len(points)), n_init=4, random_state=seed).fit(points)
    return _unit(np.asarray(kmeans.cluster_centers_, dtype=np.float64))


def _unit(M: FloatArray) -> FloatArray:
    norms = np.linalg.norm(M, axis=1, keepdims=True)
    return np.asarray(M / np.maximum(norms, _EPS), dtype=np.float64)
