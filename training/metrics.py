"""Pure metrics for a difficulty score: how well it ranks prompts, and what routing by it buys.

Routing metrics follow RouteLLM (Ong et al., 2024; lm-sys/RouteLLM ``routellm/evals/evaluate.py``
and ``benchmarks.py``) for one weak/strong model pair; a higher score sends a prompt to the strong
model.

- **PGR** (performance gap recovered) at a share of strong calls is
  ``(accuracy - weak accuracy) / (strong accuracy - weak accuracy)``, as in RouteLLM.
- **APGR** is the area under PGR against the share of strong calls over [0, 1], by the trapezoid
  rule. RouteLLM computes ``(AUC - weak AUC) / (strong AUC - weak AUC)`` of the accuracy curve,
  the same number since PGR is affine in accuracy. Deviation: RouteLLM samples the curve at about
  11 thresholds (``pd.qcut`` into 10 equal-count bins, routing ``score >= threshold``); we use
  every distinct score, so ours is the exact area and theirs a coarser approximation of it.
- **Graded APGR** (``graded_apgr``): the same area with a quality per prompt instead of 0/1
  correctness (a judge's grade, a pass rate), as RouteLLM scores MT-bench by the judge's grades.
- **CPT(x%)** is the share of strong calls needed to reach PGR x%. RouteLLM maps accuracy to share
  with ``np.interp``, which silently assumes the accuracy curve only rises; we take the first
  point where the curve reaches x%, interpolating linearly: the same where the curve is monotone,
  still well defined where it is not. RouteLLM reports percent; we report a share in [0, 1].
- **Ties** route as a block, as RouteLLM's ``>=`` threshold does. Between block ends the curve is
  linear, which is the expected accuracy over every order of the tied prompts: a constant score
  has APGR exactly 0.5, like a random router in expectation. (RouteLLM's ``pd.qcut`` raises on a
  constant score.)
- RouteLLM's "optimal" curve allows *at most* x% strong calls. Our oracle is a score (strong minus
  weak correctness) routed like any other, so it uses exactly x% and dips at the end, where the
  only prompts left are those that only the weak model answers.

For logged traffic, where one tier's outcome is observed per prompt (``training.gate``):

- **ECE** (expected calibration error; Naeini et al., 2015): the weighted mean, over 10
  equal-width score bins, of |mean score - observed rate|.
- ``share_to_recover``: a CPT on one tier's outcomes: the share of prompts, escalated highest
  score first, that holds a target share of that tier's failures.
- ``auroc``, ``expected_calibration_error`` and ``share_to_recover`` take optional row weights
  (inverse-propensity weights, for traffic routed with exploration).

Every function takes array-likes and returns a plain float; ``nan`` means "undefined on these
rows" (one class, a constant input, or no gap between the two models), never an error.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy import stats
from sklearn.metrics import roc_auc_score

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class QualityCurve:
    """Expected accuracy as the top-scored prompts go to the strong model; a point per tie block."""

    share: FloatArray
    accuracy: FloatArray
    weak_accuracy: float
    strong_accuracy: float

    @property
    def pgr(self) -> FloatArray:
        gap = self.strong_accuracy - self.weak_accuracy
        if gap == 0:
            return np.full_like(self.accuracy, np.nan)
        return (self.accuracy - self.weak_accuracy) / gap


def quality_curve(
    scores: npt.ArrayLike,
    weak_correct: npt.ArrayLike,
    strong_correct: npt.ArrayLike,
    *,
    graded: bool = False,
) -> QualityCurve:
    """Accuracy when the top-k scored prompts go to the strong model, k = 0 and each block end.

    ``graded``: the outcomes are qualities (pass rates, judge grades) rather than 0/1, and the
    curve is the mean quality, as RouteLLM's MT-bench evaluation uses the judge's grades.
    """
    score, weak, strong = _pair_arrays(scores, weak_correct, strong_correct, graded=graded)
    order = np.argsort(-score, kind="stable")
    ranked = score[order]
    block_ends = np.flatnonzero(np.append(ranked[1:] != ranked[:-1], True)) + 1
    gained = np.cumsum((strong - weak)[order])[block_ends - 1]
    n = score.size
    return QualityCurve(
        share=np.concatenate([[0.0], block_ends / n]),
        accuracy=(weak.sum() + np.concatenate([[0.0], gained])) / n,
        weak_accuracy=float(weak.mean()),
        strong_accuracy=float(strong.mean()),
    )


def apgr(
    scores: npt.ArrayLike, weak_correct: npt.ArrayLike, strong_correct: npt.ArrayLike
) -> float:
    """Average performance gap recovered: the area under PGR against the share of strong calls."""
    curve = quality_curve(scores, weak_correct, strong_correct)
    return float(np.trapezoid(curve.pgr, curve.share))


def graded_apgr(
    scores: npt.ArrayLike, weak_quality: npt.ArrayLike, strong_quality: npt.ArrayLike
) -> float:
    """APGR with graded outcomes (any finite quality per prompt, e.g. a 1-10 judge grade)."""
    curve = quality_curve(scores, weak_quality, strong_quality, graded=True)
    return float(np.trapezoid(curve.pgr, curve.share))


def cpt(
    scores: npt.ArrayLike,
    weak_correct: npt.ArrayLike,
    strong_correct: npt.ArrayLike,
    *,
    pgr: float,
) -> float:
    """Call-performance threshold: the smallest share of strong calls where PGR reaches ``pgr``."""
    curve = quality_curve(scores, weak_correct, strong_correct)
    return _first_reach(curve.share, curve.pgr, pgr)


def strong_share_for_quality(
    scores: npt.ArrayLike,
    weak_correct: npt.ArrayLike,
    strong_correct: npt.ArrayLike,
    target: float = 0.95,
) -> float:
    """The smallest share of strong calls at which accuracy reaches ``target`` x strong accuracy."""
    curve = quality_curve(scores, weak_correct, strong_correct)
    return _first_reach(curve.share, curve.accuracy, target * curve.strong_accuracy)


def auroc(
    positive: npt.ArrayLike, scores: npt.ArrayLike, *, weights: npt.ArrayLike | None = None
) -> float:
    """Area under the ROC curve of ``scores`` for the ``positive`` class; ties count one half."""
    labels = np.asarray(positive, dtype=bool)
    values = _scores(scores, labels.size)
    if labels.all() or not labels.any():
        return float("nan")
    return float(roc_auc_score(labels, values, sample_weight=_weights(weights, labels.size)))


@dataclass(frozen=True)
class CalibrationBins:
    """Equal-width score bins: each bin's mean score, observed rate and total weight."""

    edges: FloatArray
    mean_score: FloatArray  # nan where a bin is empty
    rate: FloatArray
    weight: FloatArray


def calibration_bins(
    outcomes: npt.ArrayLike,
    scores: npt.ArrayLike,
    *,
    weights: npt.ArrayLike | None = None,
    bins: int = 10,
) -> CalibrationBins:
    """Scores in [0, 1] cut into ``bins`` equal-width bins (1.0 falls in the last)."""
    observed = np.asarray(outcomes, dtype=np.float64)
    score = _scores(scores, observed.size)
    weight = _weights(weights, observed.size)
    index = np.minimum((np.clip(score, 0.0, 1.0) * bins).astype(int), bins - 1)
    total = np.bincount(index, weights=weight, minlength=bins).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.bincount(index, weights=weight * score, minlength=bins) / total
        rate = np.bincount(index, weights=weight * observed, minlength=bins) / total
    return CalibrationBins(np.linspace(0.0, 1.0, bins + 1), mean, rate, total)


def expected_calibration_error(
    outcomes: npt.ArrayLike,
    scores: npt.ArrayLike,
    *,
    weights: npt.ArrayLike | None = None,
    bins: int = 10,
) -> float:
    """Weighted mean over equal-width bins of |mean score - observed rate| (Naeini et al., 2015)."""
    cut = calibration_bins(outcomes, scores, weights=weights, bins=bins)
    filled = cut.weight > 0
    if not filled.any():
        return float("nan")
    gaps = np.abs(cut.mean_score[filled] - cut.rate[filled])
    return float(np.sum(cut.weight[filled] * gaps) / np.sum(cut.weight[filled]))


def share_to_recover(
    scores: npt.ArrayLike,
    failed: npt.ArrayLike,
    *,
    target: float,
    weights: npt.ArrayLike | None = None,
) -> float:
    """The smallest share of rows that holds ``target`` of the failures, escalating the highest
    scores first: a CPT on one tier's observed outcomes. Ties escalate as a block."""
    failure = np.asarray(failed, dtype=np.float64)
    score = _scores(scores, failure.size)
    weight = _weights(weights, failure.size)
    if failure.size == 0 or not np.any(failure * weight):
        return float("nan")
    order = np.argsort(-score, kind="stable")
    ranked = score[order]
    block_ends = np.flatnonzero(np.append(ranked[1:] != ranked[:-1], True))
    share = np.concatenate([[0.0], np.cumsum(weight[order])[block_ends] / weight.sum()])
    caught = np.cumsum((failure * weight)[order])[block_ends] / np.sum(failure * weight)
    return _first_reach(share, np.concatenate([[0.0], caught]), target)


def spearman(values: npt.ArrayLike, scores: npt.ArrayLike) -> float:
    """Spearman rank correlation between ``values`` and ``scores``."""
    target = np.asarray(values, dtype=np.float64)
    score = _scores(scores, target.size)
    if target.size < 2 or np.ptp(target) == 0 or np.ptp(score) == 0:
        return float("nan")
    return float(stats.spearmanr(target, score).statistic)


def mean_score_by_domain(domains: Sequence[str], scores: npt.ArrayLike) -> dict[str, float]:
    """The mean score of each domain, by domain name."""
    score = _scores(scores, len(domains))
    grouped: defaultdict[str, list[float]] = defaultdict(list)
    for domain, value in zip(domains, score.tolist(), strict=True):
        grouped[domain].append(value)
    return {domain: float(np.mean(values)) for domain, values in sorted(grouped.items())}


def _first_reach(share: FloatArray, curve: FloatArray, level: float) -> float:
    """Where the piecewise-linear ``curve`` first reaches ``level``; nan if it never does."""
    reached = np.flatnonzero(curve >= level)
    if reached.size == 0:
        return float("nan")
    i = int(reached[0])
    if i == 0:
        return float(share[0])
    step = (level - curve[i - 1]) / (curve[i] - curve[i - 1])
    return float(share[i - 1] + step * (share[i] - share[i - 1]))


def _pair_arrays(
    scores: npt.ArrayLike,
    weak_correct: npt.ArrayLike,
    strong_correct: npt.ArrayLike,
    *,
    graded: bool = False,
) -> tuple[FloatArray, FloatArray, FloatArray]:
    weak = _outcomes(weak_correct, "weak_correct", graded)
    strong = _outcomes(strong_correct, "strong_correct", graded)
    if weak.size != strong.size or weak.size == 0:
        raise ValueError(
            "weak_correct and strong_correct need the same non-zero length,"
            f" got {weak.size} and {strong.size}"
        )
    return _scores(scores, weak.size), weak, strong


def _outcomes(values: npt.ArrayLike, name: str, graded: bool = False) -> FloatArray:
    array = np.asarray(values, dtype=np.float64)
    if graded:
        if array.ndim != 1 or not np.isfinite(array).all():
            raise ValueError(f"{name} must be a 1-D array of finite qualities")
        return array
    if array.ndim != 1 or not np.isin(array, (0.0, 1.0)).all():
        raise ValueError(f"{name} must be a 1-D array of 0/1 outcomes")
    return array


def _weights(weights: npt.ArrayLike | None, n: int) -> FloatArray:
    if weights is None:
        return np.ones(n)
    array = np.asarray(weights, dtype=np.float64)
    if array.shape != (n,) or not np.isfinite(array).all() or (array < 0).any():
        raise ValueError(f"weights must be {n} finite numbers >= 0, got shape {array.shape}")
    return array


def _scores(scores: npt.ArrayLike, n: int) -> FloatArray:
    array = np.asarray(scores, dtype=np.float64)
    if array.shape != (n,):
        raise ValueError(f"scores must have shape ({n},), got {array.shape}")
    if not np.isfinite(array).all():
        raise ValueError("scores must be finite")
    return array
