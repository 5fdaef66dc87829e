"""Fit a difficulty estimator on labelled prompts, evaluate it and publish it as a version.

Seed training (``train_seed``) reads the seed JSONL (or a user's own file in the format of
``training.user_data``, told apart by its first row), splits off a validation share by a hash of
each row's id (stable across runs and machines), embeds the prompts (cached on disk by the data
file's sha256, so a re-run does not re-embed 36k prompts), fits ``DifficultyEstimator`` on the
training share and evaluates it on the validation share. The published artifact is exactly the
model that was evaluated: the metrics in its manifest and model card are its own.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.base import clone

from classifiers.artifacts.manifest import Manifest
from classifiers.artifacts.store import save_artifact
from classifiers.difficulty import GROUP_COLUMN, GROUPS, OUTCOME_COLUMN, DifficultyEstimator
from classifiers.encoder import TextEncoder
from classifiers.errors import DataError
from classifiers.features import FEATURE_NAMES, build_features
from classifiers.files import atomic_binary
from training.crossval import cross_validate
from training.datasets import SeedRow, file_sha256
from training.evaluate import EvaluationReport, evaluate
from training.evaluate_report import write_report
from training.labels import seed_target, target_matrix
from training.model_card import write_model_card
from training.user_data import read_training_file

VALIDATION_SHARE = 0.15
EMBED_CHUNK = 256

Progress = Callable[[int, int], None]
Stage = Callable[[str], None]


@dataclass(frozen=True)
class TrainedVersion:
    manifest: Manifest
    report: EvaluationReport
    version_dir: Path
    notes: tuple[str, ...] = ()  # what the data was too thin for, in words


def is_validation(row_id: str, share: float = VALIDATION_SHARE) -> bool:
    """Stable split: the same id always lands on the same side."""
    bucket = int.from_bytes(hashlib.sha256(row_id.encode()).digest()[:8], "big") % 10_000
    return bucket < share * 10_000


def targets(rows: Sequence[SeedRow]) -> np.ndarray:
    return target_matrix([seed_target(r.source, r.domain, r.labels, r.prompt) for r in rows])


def embed(
    encoder: TextEncoder,
    texts: Sequence[str],
    *,
    cache_file: Path | None = None,
    progress: Progress | None = None,
) -> np.ndarray:
    """Embeddings of ``texts``: from ``cache_file`` when it matches, else computed and stored."""
    if cache_file is not None and cache_file.exists():
        cached: np.ndarray = np.load(cache_file)
        if cached.shape == (len(texts), encoder.dimension):
            return cached
    chunks = []
    for start in range(0, len(texts), EMBED_CHUNK):
        chunks.append(encoder.encode(texts[start : start + EMBED_CHUNK]))
        if progress is not None:
            progress(min(start + EMBED_CHUNK, len(texts)), len(texts))
    embeddings = np.vstack(chunks).astype(np.float32)
    if cache_file is not None:
        cache_file.parent.mkdir(parents=True, exist_ok=True)
        with atomic_binary(cache_file) as handle:
            np.save(handle, embeddings)
    return embeddings


def train_seed(
    data_path: Path,
    models_dir: Path,
    encoder: TextEncoder,
    *,
    cache_dir: Path,
    version: str | None = None,
    estimator: DifficultyEstimator | None = None,
    progress: Progress | None = None,
    cv_folds: int = 0,
    stage: Stage | None = None,
) -> TrainedVersion:
    """Fit on the training share, evaluate on the held-out share, publish; see the module doc.

    ``cv_folds`` > 1 also cross-validates on the training share and records the fold means.
    ``stage`` hears the name of each step after embedding ("fitting", "evaluating", ...).
    """
    say = stage or (lambda _: None)
    data = read_training_file(data_path)
    rows = list(data.rows)
    data_sha = file_sha256(data_path)
    cache_file = embedding_cache_file(cache_dir, encoder.name, data_sha)
    texts = [r.prompt for r in rows]
    embeddings = embed(encoder, texts, cache_file=cache_file, progress=progress)
    X = build_features(texts, embeddings)
    held_out = np.array([is_validation(r.id) for r in rows])
    y = targets(rows)
    estimator = estimator or DifficultyEstimator()
    _check_enough(data_path, held_out, estimator.min_group_rows)
    notes = (*data.notes, *expert_notes(y[~held_out], estimator))
    metrics: dict[str, Any] = {}
    if cv_folds > 1:
        say(f"cross-validating ({cv_folds} folds)")
        train_rows = [r for r, v in zip(rows, held_out, strict=True) if not v]
        folds = cross_validate(estimator, train_rows, X[~held_out], y[~held_out], folds=cv_folds)
        metrics["cross_validation"] = folds.to_dict()
    say(f"fitting on {int((~held_out).sum())} rows")
    train_texts = [t for t, v in zip(texts, held_out, strict=True) if not v]
    fitted = clone(estimator).fit(X[~held_out], y[~held_out], texts=train_texts)
    say(f"evaluating on {int(held_out.sum())} held-out rows")
    val_rows = [r for r, v in zip(rows, held_out, strict=True) if v]
    val_scores = fitted.predict_text([r.prompt for r in val_rows], X[held_out])
    report = evaluate(val_rows, val_scores)
    version = version or default_version(data_sha)
    say(f"publishing {version}")
    manifest = save_artifact(
        models_dir,
        version,
        fitted,
        encoder_name=encoder.name,
        encoder_dimension=encoder.dimension,
        encoder_files_sha256=encoder.files_sha256,
        feature_names=FEATURE_NAMES,
        training_data={
            **_data_summary(data_path, data_sha, rows, held_out),
            "format": data.format,
            "notes": list(notes),
        },
        metrics={"validation": report.to_dict(), "estimator": _params(fitted), **metrics},
        attach=lambda folder, manifest: _attach(folder, manifest, report, val_rows, val_scores),
    )
    return TrainedVersion(manifest, report, models_dir / version, notes)


def expert_notes(y: np.ndarray, estimator: DifficultyEstimator) -> list[str]:
    """Each expert the training rows are too few to fit as designed, and what it does instead."""
    least = estimator.min_group_rows
    groups = y[:, GROUP_COLUMN].astype(int)
    notes = []
    for group in np.unique(groups):
        name, rows = GROUPS[group], groups == group
        count = int(rows.sum()) if name != estimator.general_group else len(y)
        outcomes = int((rows & ~np.isnan(y[:, OUTCOME_COLUMN])).sum())
        if count < least:
            notes.append(
                f"expert '{name}': {count} training rows, fewer than {least}: it predicts their"
                " mean gain for every prompt instead of fitting one"
            )
        elif 0 < outcomes < least and name != estimator.general_group:
            notes.append(
                f"expert '{name}': {outcomes} rows with true/false outcomes, fewer than {least}"
                " to fit its outcome classifier: it fits a ridge regression on the gain instead"
            )
    return notes


def _check_enough(path: Path, held_out: np.ndarray, least: int) -> None:
    train, validation = int((~held_out).sum()), int(held_out.sum())
    if train < least or validation == 0:
        raise DataError(
            f"{path}: too few rows to train: {train} for training and {validation} for"
            f" validation ({VALIDATION_SHARE:.0%} of rows, by id); need at least {least} and 1"
        )


def _attach(
    folder: Path,
    manifest: Manifest,
    report: EvaluationReport,
    rows: Sequence[SeedRow],
    scores: np.ndarray,
) -> None:
    write_report(report, rows, scores, folder / "report")
    write_model_card(folder, manifest, report)


def embedding_cache_file(cache_dir: Path, encoder_name: str, data_sha: str) -> Path:
    """Where the embeddings of a data file (by its sha256) under an encoder are cached."""
    return cache_dir / f"{_slug(encoder_name)}-{data_sha[:16]}.npy"


def default_version(data_sha: str) -> str:
    return f"seed-{datetime.now(UTC):%Y%m%d-%H%M%S}-{data_sha[:8]}"


def _data_summary(
    path: Path, sha: str, rows: Sequence[SeedRow], held_out: np.ndarray
) -> dict[str, Any]:
    return {
        "file": path.name,
        "sha256": sha,
        "rows": len(rows),
        "train_rows": int((~held_out).sum()),
        "validation_rows": int(held_out.sum()),
        "validation_rule": f"sha256(id) bucket < {VALIDATION_SHARE:.0%}",
        "rows_by_source": dict(Counter(r.source for r in rows).most_common()),
        "licences": dict(Counter(f"{r.source}: {r.licence}" for r in rows)),
    }


def _params(estimator: DifficultyEstimator) -> dict[str, Any]:
    return {"class": type(estimator).__name__, **estimator.get_params()}


def _slug(name: str) -> str:
    return name.replace("/", "__")
