"""Fit a difficulty estimator on labelled prompts, evaluate it and publish it as a version.

Seed training (``train_seed``) reads the seed JSONL (or a user's own file in the format of
``training.user_data``, told apart by its first row) and splits it three ways by a hash of each
row's id (stable across runs and machines):

- ``fit`` (70%): the only rows the estimator is fitted on;
- ``select`` (15%): every choice of features, hyperparameters and label constants was made by
  measuring on these rows (with scratch scripts, before the version was trained);
- ``report`` (15%, the same rows the versions before it held out for validation): measured once,
  for the model card and the manifest's ``validation`` figures.

It embeds the prompts (cached on disk by the data file's sha256, so a re-run does not re-embed
37k prompts), fits ``DifficultyEstimator`` on the fit rows and evaluates it on the select and the
report rows. The published artifact is exactly the model that was evaluated: the metrics in its
manifest and model card are its own.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import numpy as np
from sklearn.base import clone

from classifiers.artifacts.manifest import Manifest, read_manifest
from classifiers.artifacts.store import save_artifact
from classifiers.artifacts.versions import resolve_version
from classifiers.difficulty import GROUP_COLUMN, GROUPS, OUTCOME_COLUMN, DifficultyEstimator
from classifiers.encoder import TextEncoder
from classifiers.errors import DataError
from classifiers.features import FEATURE_NAMES, build_features
from classifiers.files import atomic_binary
from training.compare import compare_versions, comparison_notes
from training.crossval import cross_validate
from training.datasets import SeedRow, file_sha256
from training.evaluate import EvaluationReport, evaluate
from training.evaluate_report import write_report
from training.labels import RowTarget, provenance, seed_targets, target_matrix
from training.model_card import write_model_card
from training.user_data import read_training_file

REPORT_SHARE = 0.15
SELECT_SHARE = 0.15
VALIDATION_SHARE = REPORT_SHARE + SELECT_SHARE  # every row the fit never sees
SPLIT_RULE = "sha256(id) bucket: < 15% report, 15-30% select, the rest fit"
EMBED_CHUNK = 256

Split = Literal["fit", "select", "report"]

Progress = Callable[[int, int], None]
Stage = Callable[[str], None]


@dataclass(frozen=True)
class TrainedVersion:
    manifest: Manifest
    report: EvaluationReport  # on the report split
    version_dir: Path
    notes: tuple[str, ...] = ()  # what the data was too thin for, in words
    select: EvaluationReport | None = None


def split_of(row_id: str) -> Split:
    """Stable split: the same id always lands in the same one of fit, select and report."""
    bucket = int.from_bytes(hashlib.sha256(row_id.encode()).digest()[:8], "big") % 10_000
    if bucket < REPORT_SHARE * 10_000:
        return "report"
    return "select" if bucket < VALIDATION_SHARE * 10_000 else "fit"


def is_validation(row_id: str) -> bool:
    """True for every row the seed fit never sees (select and report)."""
    return split_of(row_id) != "fit"


def targets(rows: Sequence[SeedRow]) -> np.ndarray:
    return target_matrix(seed_targets(rows))


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
    cheap_threshold: float | None = None,
    compare: Sequence[str] = (),
) -> TrainedVersion:
    """Fit on the fit rows, evaluate on select and report, publish; see the module docstring.

    ``cv_folds`` > 1 also cross-validates on the fit rows and records the fold means;
    ``stage`` hears the name of each step after embedding ("fitting", "evaluating", ...);
    ``cheap_threshold`` (the policy's cheapest band's upper edge) adds the tier-share proxies;
    ``compare`` names versions in ``models_dir`` to measure on the same report rows (each with
    its own encoder's cached embeddings) in the model card.
    """
    say = stage or (lambda _: None)
    data = read_training_file(data_path)
    rows = list(data.rows)
    data_sha = file_sha256(data_path)
    cache_file = embedding_cache_file(cache_dir, encoder.name, data_sha)
    texts = [r.prompt for r in rows]
    embeddings = embed(encoder, texts, cache_file=cache_file, progress=progress)
    X = build_features(texts, embeddings)
    split = np.array([split_of(r.id) for r in rows])
    held_out = split != "fit"
    row_targets = seed_targets(rows)
    y = target_matrix(row_targets)
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
    reports = {}
    for name in ("select", "report"):
        part = split == name
        part_rows = [r for r, keep in zip(rows, part, strict=True) if keep]
        part_scores = fitted.predict_text([r.prompt for r in part_rows], X[part])
        reports[name] = (part_rows, part_scores)
    val_rows, val_scores = reports["report"]
    report = evaluate(val_rows, val_scores, cheap_threshold=cheap_threshold)
    select = evaluate(*reports["select"], cheap_threshold=cheap_threshold)
    others = compare_versions(
        models_dir,
        compare,
        rows,
        split == "report",
        _caches(cache_dir, data_sha, models_dir, compare),
        cheap_threshold=cheap_threshold,
    )
    card_notes = comparison_notes(report, others, "report")
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
            **_data_summary(data_path, data_sha, rows, split, row_targets),
            "format": data.format,
            "notes": list(notes),
        },
        metrics={
            "validation": report.to_dict(),
            "select": select.to_dict(),
            "estimator": _params(fitted),
            **metrics,
        },
        attach=lambda folder, manifest: _attach(
            folder, manifest, report, val_rows, val_scores, card_notes
        ),
    )
    return TrainedVersion(manifest, report, models_dir / version, notes, select)


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
    notes: str,
) -> None:
    write_report(report, rows, scores, folder / "report")
    write_model_card(folder, manifest, report, notes)


def _caches(
    cache_dir: Path, data_sha: str, models_dir: Path, versions: Sequence[str]
) -> dict[str, Path]:
    names = {read_manifest(resolve_version(models_dir, v)).encoder.name for v in versions}
    return {name: embedding_cache_file(cache_dir, name, data_sha) for name in names}


def embedding_cache_file(cache_dir: Path, encoder_name: str, data_sha: str) -> Path:
    """Where the embeddings of a data file (by its sha256) under an encoder are cached."""
    return cache_dir / f"{_slug(encoder_name)}-{data_sha[:16]}.npy"


def default_version(data_sha: str) -> str:
    return f"seed-{datetime.now(UTC):%Y%m%d-%H%M%S}-{data_sha[:8]}"


def _data_summary(
    path: Path,
    sha: str,
    rows: Sequence[SeedRow],
    split: np.ndarray,
    row_targets: Sequence[RowTarget],
) -> dict[str, Any]:
    fit = split == "fit"
    return {
        "file": path.name,
        "sha256": sha,
        "rows": len(rows),
        "train_rows": int(fit.sum()),
        "select_rows": int((split == "select").sum()),
        "validation_rows": int((split == "report").sum()),
        "validation_rule": SPLIT_RULE,
        "label_provenance": provenance(
            [t for t, keep in zip(row_targets, fit, strict=True) if keep]
        ),
        "rows_by_source": dict(Counter(r.source for r in rows).most_common()),
        "licences": dict(Counter(f"{r.source}: {r.licence}" for r in rows)),
    }


def _params(estimator: DifficultyEstimator) -> dict[str, Any]:
    return {"class": type(estimator).__name__, **estimator.get_params()}


def _slug(name: str) -> str:
    return name.replace("/", "__")
