"""What every evaluation metric shares: the ``Metric`` record and the scorers it compares.

A metric is computed for four scorers on the same rows: ``model`` (the scores under evaluation),
``random`` (uniform noise from a seed: the floor), ``length`` (the prompt's length as a percentile
among the rows: the cheap heuristic) and ``oracle`` (the metric's own labels: the ceiling).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy import stats

from training.datasets import SeedRow
from training.metrics import FloatArray

Indices = npt.NDArray[np.intp]
Measure = Callable[[FloatArray], float]

CANDIDATE_ORDER = ("model", "random", "length")


@dataclass(frozen=True)
class Metric:
    """One metric for each scorer on the same ``n`` rows; ``None`` where it is undefined."""

    name: str
    n: int
    model: float | None
    random: float | None
    length: float | None
    oracle: float | None
    higher_is_better: bool | None = True  # None: descriptive, not a measure of quality


def checked_scores(rows: Sequence[SeedRow], scores: npt.ArrayLike) -> FloatArray:
    array = np.asarray(scores, dtype=np.float64)
    if array.shape != (len(rows),):
        raise ValueError(f"expected one score per row ({len(rows)}), got shape {array.shape}")
    if not np.isfinite(array).all():
        raise ValueError("scores must be finite")
    return array


def candidates(rows: Sequence[SeedRow], scores: FloatArray, seed: int) -> dict[str, FloatArray]:
    """The model's scores and the baselines', one per row."""
    lengths = np.array([len(row.prompt) for row in rows], dtype=np.float64)
    return {
        "model": scores,
        "random": np.random.default_rng(seed).random(len(rows)),
        "length": percentiles(lengths),
    }


def percentiles(values: FloatArray) -> FloatArray:
    if values.size < 2:
        return np.full_like(values, 0.5)
    ranks: FloatArray = stats.rankdata(values)
    return (ranks - 1) / (values.size - 1)


def metric(
    name: str,
    idx: Indices,
    measure: Measure,
    scorers: Mapping[str, FloatArray],
    oracle: FloatArray | None,
    *,
    higher_is_better: bool | None = True,
) -> Metric:
    """``measure`` of each candidate's scores on rows ``idx``, and of ``oracle`` (idx applied)."""
    if idx.size == 0:
        return Metric(name, 0, None, None, None, None, higher_is_better)
    model, random, length = (defined(measure(scorers[k][idx])) for k in CANDIDATE_ORDER)
    best = None if oracle is None else defined(measure(oracle))
    return Metric(name, int(idx.size), model, random, length, best, higher_is_better)


def defined(value: float) -> float | None:
    return None if np.isnan(value) else float(value)


def where(rows: Sequence[SeedRow], keep: Callable[[SeedRow], bool]) -> Indices:
    return np.array([i for i, row in enumerate(rows) if keep(row)], dtype=np.intp)
