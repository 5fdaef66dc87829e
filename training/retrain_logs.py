"""The logged rows a retrain fits and holds out: read from the export, split by time, sampled,
scored by the base, and set beside the seed rows as one training set."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from classifiers.artifacts.manifest import EncoderSpec, Manifest, read_manifest
from classifiers.artifacts.versions import list_versions
from classifiers.difficulty import GROUP_COLUMN, GROUPS, OUTCOME_COLUMN, DifficultyEstimator
from classifiers.errors import ArtifactMismatchError, DataError
from training.log_labels import gate_groups, log_targets
from training.logs import (
    LabelledLogs,
    LogSummary,
    read_logs,
    require_rows,
)
from training.retrain_seed import Progress, SeedSplit

MIN_OUTCOME_ROWS = 200
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


def training_data(
    logs: TrainingLogs,
    seed: SeedSplit | None,
    top_tier: int | None,
    min_outcome_rows: int,
    path: Path,
) -> tuple[
    npt.NDArray[Any], npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.intp]
]:
    """(X, y, sample_weight) of seed and logged rows, and which of ``logs.train`` were fitted."""
    fitted, set_aside = _enough_outcomes(seed, logs.train_groups, min_outcome_rows)
    logs.notes.extend(
        f"{count} logged rows of group {GROUPS[group]} set aside: with the seed's, under"
        f" {min_outcome_rows} rows with outcomes, too few to fit the group's outcome expert"
        for group, count in set_aside.items()
    )
    if fitted.size == 0:
        raise DataError(
            f"{path}: no group has {min_outcome_rows} rows with outcomes yet"
            f" ({len(logs.train)} logged rows with feedback to train on); export a longer window"
        )
    X_log, y_log, w_log = log_targets(
        logs.train.take(fitted),
        base_scores=logs.train_scores[fitted],
        groups=logs.train_groups[fitted],
        top_tier=top_tier,
    )
    X, y, weights = _training_set(seed, X_log, y_log, w_log)
    return X, y, weights, fitted


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


def _training_set(
    seed: SeedSplit | None,
    X_log: npt.NDArray[np.float32],
    y_log: npt.NDArray[np.float64],
    w_log: npt.NDArray[np.float64],
) -> tuple[npt.NDArray[Any], npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Seed rows (weight 1), then logged rows."""
    if seed is None:
        return X_log, y_log, w_log
    return (
        np.vstack([seed.X_train, X_log]),
        np.vstack([seed.y_train, y_log]),
        np.concatenate([np.ones(len(seed.y_train)), w_log]),
    )


def _enough_outcomes(
    seed: SeedSplit | None, groups: npt.NDArray[np.int64], minimum: int
) -> tuple[npt.NDArray[np.intp], dict[int, int]]:
    """Which logged rows (by their ``groups``) are in groups with at least ``minimum`` rows with
    outcomes, counting the seed's; and how many rows of each other group were set aside.

    Logged rows train a group through its outcome expert, which ``DifficultyEstimator`` fits on
    the group's outcome rows alone. Below ``minimum`` such rows that expert would rest on a
    handful of prompts (often ones the gate misplaced, like an algebra question from MMLU in the
    math group); and as 0/1 gain targets beside the seed's prior-labelled rows they would only
    add noise to the group's ridge expert. So they wait until there are enough of them. (The
    general group, chat, has no outcome expert: its ridge learns every row's gain target, so
    its logged rows, once there are enough, teach it through their soft 0/1 targets.)
    """
    set_aside: dict[int, int] = {}
    for group in np.unique(groups).tolist():
        seed_rows = 0
        if seed is not None:
            y = seed.y_train
            with_outcome = (y[:, GROUP_COLUMN] == group) & ~np.isnan(y[:, OUTCOME_COLUMN])
            seed_rows = int(with_outcome.sum())
        count = int(np.sum(groups == group))
        if seed_rows + count < minimum:
            set_aside[int(group)] = count
    return np.flatnonzero(~np.isin(groups, list(set_aside))), set_aside


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
