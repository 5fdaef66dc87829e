"""A correction of the score where logged outcomes cover the traffic, the base kept elsewhere.

Retraining from a decision log (``training.retrain``) sees only the traffic that was served: one
app's maths, say. Refitting the whole estimator on that would teach it nothing about the rest
(and its gate cannot even be fitted on one kind of prompt). So the log teaches a ``Correction``
that sits on top of the fitted estimator:

    corrected(x) = c(x) * sigmoid(k * a * logit(b(x)) + w . p(x) + w0) + (1 - c(x)) * b(x)

- ``b(x)`` is the score before the correction, ``p(x)`` the standardised input (embedding and
  text features) projected on the leading principal components of the logged rows (at most
  ``MAX_COMPONENTS``, one per ``ROWS_PER_COMPONENT`` logged rows: a few hundred outcomes cannot
  fit hundreds of weights), and ``a, w, w0`` a logistic regression fitted on the logged rows'
  labels (the score's one quantity, ``training.logs``). The base's logit enters scaled by ``k``
  (``BASE_LOGIT_SCALE``), so the regularisation that keeps ``w`` small barely shrinks ``a``: with
  little evidence the correction stays close to the base.
- ``c(x)`` in [0, 1] is the *coverage*: how close ``x`` is to the logged traffic, as the largest
  cosine similarity of its standardised embedding to a few centroids of the logged rows, ramped
  linearly from ``low`` (0) to ``high`` (1). ``high`` is a low percentile of the logged rows' own
  similarity, so the logged kind of prompt is fully corrected; ``low`` is ``COVERAGE_LOW`` times
  it, so prompts unlike any logged one (similarity near 0 after standardising) keep the base's
  score exactly.
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
COVERAGE_PERCENTILE = 10.0
COVERAGE_LOW = 0.5
MAX_CENTROIDS = 8
ROWS_PER_CENTROID = 100
MAX_COMPONENTS = 32
ROWS_PER_COMPONENT = 20
C_GRID = (0.001, 0.003, 0.01, 0.03, 0.1)
CV_FOLDS = 5
_EPS = 1e-4


@dataclass(frozen=True)
class Correction:
    """A fitted correction; ``apply`` maps scores before it to scores after it."""

    coef: FloatArray  # over [k * logit(b), p]
    intercept: float
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

    def refit(self, scores: FloatArray, Z: FloatArray) -> FloatArray:
        """The correction's own estimate, everywhere (before coverage blends it in)."""
        logits = _design(scores, (Z - self.center) @ self.components) @ self.coef + self.intercept
        return np.asarray(expit(logits), dtype=np.float64)

    def apply(self, scores: FloatArray, Z: FloatArray) -> FloatArray:
        covered = self.coverage(Z)
        blended = np.where(covered > 0, self.refit(scores, Z), scores)
        return np.asarray(covered * blended + (1.0 - covered) * scores, dtype=np.float64)


def fit_correction(
    scores: FloatArray,
    Z: FloatArray,
    labels: FloatArray,
    weights: FloatArray,
    *,
    embedding_columns: int,
    rows: NDArray[np.intp] | None = None,
    seed: int = 0,
) -> Correction:
    """Fit on logged rows: base ``scores``, standardised ``Z``, 0/1 ``labels`` with ``weights``.

    A soft label comes as two rows (class 1 and class 0) sharing a ``rows`` id, so that the
    cross-validation choosing the regularisation keeps both halves in one fold.
    """
    ids = np.arange(len(labels)) if rows is None else np.asarray(rows)
    classes = np.asarray(labels, dtype=int)
    center, components = _components(Z, ids)
    X = _design(scores, (Z - center) @ components)
    if len(np.unique(classes)) < 2:
        raise ValueError("the logged rows hold one class of label only: nothing to correct")
    c = _choose_c(X, classes, weights, ids, seed)
    model = LogisticRegression(C=c, max_iter=3000).fit(X, classes, sample_weight=weights)
    centroids, low, high = _coverage(Z[:, :embedding_columns], ids, seed)
    return Correction(
        coef=np.asarray(model.coef_[0], dtype=np.float64),
        intercept=float(model.intercept_[0]),
        center=center,
        components=components,
        centroids=centroids,
        low=low,
        high=high,
        embedding_columns=embedding_columns,
    )


def _components(Z: FloatArray, ids: NDArray[np.intp]) -> tuple[FloatArray, FloatArray]:
    unique = Z[np.unique(ids, return_index=True)[1]]
    count = int(np.clip(len(unique) // ROWS_PER_COMPONENT, 1, min(MAX_COMPONENTS, Z.shape[1])))
    center = unique.mean(axis=0)
    _, _, vt = np.linalg.svd(unique - center, full_matrices=False)
    return np.asarray(center, dtype=np.float64), np.asarray(vt[:count].T, dtype=np.float64)


def _design(scores: FloatArray, Z: FloatArray) -> FloatArray:
    base = logit(np.clip(np.asarray(scores, dtype=np.float64), _EPS, 1 - _EPS))
    return np.column_stack([BASE_LOGIT_SCALE * base, Z])


def _choose_c(
    X: FloatArray, y: NDArray[np.int_], w: FloatArray, ids: NDArray[np.intp], seed: int
) -> float:
    """The C of ``C_GRID`` with the lowest weighted log loss over folds of row ids."""
    unique = np.unique(ids)
    rng = np.random.default_rng(seed)
    fold_of = dict(zip(unique.tolist(), rng.permutation(len(unique)) % CV_FOLDS, strict=True))
    folds = np.array([fold_of[int(i)] for i in ids])
    losses = []
    for c in C_GRID:
        total = 0.0
        for fold in range(CV_FOLDS):
            train, held = folds != fold, folds == fold
            if len(np.unique(y[train])) < 2 or not held.any():
                continue
            model = LogisticRegression(C=c, max_iter=3000).fit(X[train], y[train], w[train])
            p = np.clip(model.predict_proba(X[held])[:, 1], _EPS, 1 - _EPS)
            total -= float(np.sum(w[held] * (y[held] * np.log(p) + (1 - y[held]) * np.log(1 - p))))
        losses.append(total)
    return float(C_GRID[int(np.argmin(losses))])


def _coverage(E: FloatArray, ids: NDArray[np.intp], seed: int) -> tuple[FloatArray, float, float]:
    unique_rows = np.unique(ids, return_index=True)[1]
    points = _unit(E[unique_rows])
    k = int(np.clip(len(points) // ROWS_PER_CENTROID, 1, MAX_CENTROIDS))
    kmeans = KMeans(n_clusters=k, n_init=4, random_state=seed).fit(points)
    centroids = _unit(np.asarray(kmeans.cluster_centers_, dtype=np.float64))
    own = (points @ centroids.T).max(axis=1)
    high = max(float(np.percentile(own, COVERAGE_PERCENTILE)), 0.05)
    return centroids, COVERAGE_LOW * high, high


def _unit(M: FloatArray) -> FloatArray:
    norms = np.linalg.norm(M, axis=1, keepdims=True)
    return np.asarray(M / np.maximum(norms, _EPS), dtype=np.float64)
