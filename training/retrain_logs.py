"""The logged rows a retrain fits and holds out: read from the export, split by time, sampled,
scored by the base; and the candidate: the base with a correction fitted on them."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from classifiers.artifacts.manifest import EncoderSpec, Manifest, read_manifest
from classifiers.artifacts.versions import list_versions
from classifiers.correction import fit_correction
from classifiers.difficulty import DifficultyEstimator
from classifiers.errors import ArtifactMismatchError, DataError
from classifiers.features import FEATURE_NAMES
from training.log_labels import anchored_recovery, gate_groups, recovery_rate
from training.logs import (
    LabelledLogs,
    LogSummary,
    read_logs,
    require_rows,
)
from training.retrain_seed import Progress

MIN_LOG_ROWS = 50
MAX_LOG_ROWS = 300_000
SAMPLE_SEED = 0
PREDICT_CHUNK = 65_536


@dataclass
class TrainingLogs:
    """The export's labelled rows that retraining uses, split by time and scored by the base.

    Only the training rows to fit (``max_log_rows`` of them at most) and the held-out slice are
    kept: the export's other rows are dropped before the fit, which needs the memory.
    """

    summary: LogSummary
    train: LabelledLogs
    train_scores: npt.NDArray[np.float64]
    train_groups: npt.NDArray[np.int64]
    train_rows: int  # before sampling
    holdout: LabelledLogs
    holdout_scores: npt.NDArray[np.float64]
    notes: list[str]


def read_training_logs(
    path: Path,
    models_dir: Path,
    estimator: DifficultyEstimator,
    spec: EncoderSpec,
    holdout_share: float,
    max_log_rows: int | None,
    step: Progress,
) -> TrainingLogs:
    data = read_logs(
        path, dimension=spec.dimension, progress=lambda n, t: step("reading logs", n, t)
    )
    require_rows(data, path)
    notes = _logged_version_notes(models_dir, data.summary, spec)
    train_idx, held_idx = split_by_time(data.labelled.time, holdout_share)
    if train_idx.size == 0:
        raise DataError(f"{path}: {len(data.labelled)} rows with feedback leave none to train on")
    sampled = _sample(train_idx, max_log_rows, notes)
    step("scoring logs with the base", 0, 1)
    train, holdout = data.labelled.take(sampled), data.labelled.take(held_idx)
    summary = data.summary
    del data  # the labelled rows outside the sample and the slice
    logs = TrainingLogs(
        summary=summary,
        train=train,
        train_scores=chunked(estimator.predict, train.X),
        train_groups=chunked(lambda X: gate_groups(estimator, X), train.X),
        train_rows=int(train_idx.size),
        holdout=holdout,
        holdout_scores=chunked(estimator.predict, holdout.X),
        notes=notes,
    )
    step("scoring logs with the base", 1, 1)
    return logs


def fit_candidate(
    base: DifficultyEstimator,
    logs: TrainingLogs,
    min_log_rows: int,
    path: Path,
) -> tuple[DifficultyEstimator, npt.NDArray[np.intp]]:
    """The base with a correction fitted on the logged training rows; and the rows it used."""
    train = logs.train
    if len(train) < min_log_rows:
        raise DataError(
            f"{path}: {len(train)} logged rows with feedback to train on; a correction needs"
            f" at least {min_log_rows}: export a longer window"
        )
    cheap = np.flatnonzero(train.tier_index == 0)
    failed = ~train.success[cheap]
    if cheap.size < min_log_rows or failed.all() or not failed.any():
        raise DataError(
            f"{path}: {cheap.size} logged rows served by the cheapest tier, {int(failed.sum())}"
            f" of them failures; a correction needs at least {min_log_rows} with both outcomes"
            " (the cheapest tier's outcome is what says which prompts need escalating: serve"
            " with ROUTER_EXPLORATION_RATE > 0 so that some prompts of every kind reach it)"
        )
    weights = train.weights[cheap]
    Z = chunked(base.standardised, train.X)
    # the recovery rate needs the fitted failure model, so it is set once that is fitted
    fitted = fit_correction(
        logs.train_scores[cheap],
        Z[cheap],
        failed.astype(float),
        weights / weights.mean(),
        recovery=1.0,
        embedding_columns=train.X.shape[1] - len(FEATURE_NAMES),
    )
    cheap_failure = fitted.failure(logs.train_scores, Z)
    recovery = anchored_recovery(
        recovery_rate(train), logs.train_scores, cheap_failure, train.weights
    )
    correction = replace(fitted, recovery=recovery)
    logs.notes.append(
        f"correction fitted on the {cheap.size} logged rows the cheapest tier served"
        f" ({int(failed.sum())} failures); recovery rate {correction.recovery:.2f}"
    )
    return base.with_correction(correction), cheap


def split_by_time(
    times: npt.ArrayLike, holdout_share: float
) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.intp]]:
    """(training, held out) row indices: the newest ``holdout_share`` of rows are held out."""
    stamps = np.asarray(times, dtype=np.float64)
    order = np.argsort(stamps, kind="stable")
    held = math.ceil(holdout_share * stamps.size)
    cut = stamps.size - held
    return np.sort(order[:cut]), np.sort(order[cut:])


def _sample(
    index: npt.NDArray[np.intp], limit: int | None, notes: list[str]
) -> npt.NDArray[np.intp]:
    if limit is None or index.size <= limit:
        return index
    notes.append(
        f"fitted on a uniform sample of {limit:,} of the {index.size:,} training rows with"
        " feedback (max_log_rows)"
    )
    rng = np.random.default_rng(SAMPLE_SEED)
    return np.sort(rng.choice(index, size=limit, replace=False))


def _logged_version_notes(models_dir: Path, summary: LogSummary, spec: EncoderSpec) -> list[str]:
    """Refuse logs embedded by another encoder; note versions this registry does not hold."""
    held = set(list_versions(models_dir))
    for name in summary.classifier_versions:
        if name not in held:
            continue
        logged = read_manifest(models_dir / name).encoder
        if logged != spec:
            raise ArtifactMismatchError(
                models_dir / name,
                f"logged rows were embedded for {logged.name} ({logged.dimension} dimensions);"
                f" the base uses {spec.name} ({spec.dimension}): their embeddings do not mix",
            )
    unknown = sorted(set(summary.classifier_versions) - held)
    if unknown:
        return [f"rows scored by versions not in {models_dir}: {', '.join(unknown)}"]
    return []


def overlap_notes(base: Manifest, held: LabelledLogs) -> list[str]:
    trained_until = (base.training_data.get("logs") or {}).get("trained_until")
    if not trained_until or len(held) == 0:
        return []
    held_from = datetime.fromtimestamp(float(held.time.min()), UTC).isoformat(timespec="seconds")
    if trained_until >= held_from:
        return [
            f"the base was trained on logs up to {trained_until}, overlapping the held-out"
            f" slice (from {held_from}): its held-out figures are optimistic"
        ]
    return []


def chunked(predict: Callable[[Any], npt.NDArray[Any]], X: npt.NDArray[Any]) -> npt.NDArray[Any]:
    """``predict`` over ``X`` a block of rows at a time: the estimator copies its input to
    float64 and standardises it, which on a million logged rows would take 6 GB at once."""
    if len(X) <= PREDICT_CHUNK:
        return predict(X)
    return np.concatenate(
        [predict(X[start : start + PREDICT_CHUNK]) for start in range(0, len(X), PREDICT_CHUNK)]
    )
