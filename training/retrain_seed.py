"""Seed data beside logged outcomes in a retrain: embedded through the shared cache, split the
way ``train_seed`` splits it, and the base and candidate compared on its validation rows."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from classifiers.artifacts.manifest import EncoderSpec, check_encoder
from classifiers.difficulty import DifficultyEstimator
from classifiers.encoder import TextEncoder
from classifiers.errors import DataError, EncoderUnavailableError
from classifiers.features import build_features
from training.datasets import SeedRow, file_sha256, read_seed_rows
from training.evaluate import EvaluationReport, evaluate
from training.train import (
    SPLIT_RULE,
    embed,
    embedding_cache_file,
    is_validation,
    targets,
)

# progress(step, done, total): ``total`` is None while unknown.
Progress = Callable[[str, int, int | None], None]


@dataclass(frozen=True)
class SeedSplit:
    """Seed data as the estimator takes it: the training share and the validation share."""

    X_train: npt.NDArray[np.float32]
    y_train: npt.NDArray[np.float64]
    X_val: npt.NDArray[np.float32]
    val_rows: tuple[SeedRow, ...]
    summary: dict[str, Any]


@dataclass(frozen=True)
class SeedComparison:
    base: EvaluationReport
    candidate: EvaluationReport


class LazyEncoder:
    """The encoder ``spec`` names (``classifiers.encoder_choice.kind_of``), loaded on the first
    ``encode``: a warm cache never loads a model."""

    def __init__(self, spec: EncoderSpec, *, threads: int | None = None) -> None:
        self._spec = spec
        # a batch job: every core unless told otherwise
        self._threads = threads or max(1, min(os.cpu_count() or 1, 64))
        self._encoder: TextEncoder | None = None

    @property
    def name(self) -> str:
        return self._spec.name

    @property
    def dimension(self) -> int:
        return self._spec.dimension

    @property
    def files_sha256(self) -> str | None:
        return self._spec.files_sha256

    def encode(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        if self._encoder is None:
            from classifiers.encoder_choice import kind_of, load_text_encoder

            kind = kind_of(self._spec.name)
            if kind is None:
                raise EncoderUnavailableError(
                    f"the base version was fitted on encoder {self._spec.name!r}, which this"
                    " build cannot load, and the seed data is not cached under that name"
                )
            encoder = load_text_encoder(kind, cache_size=0, threads=self._threads)
            check_encoder("the base version", self._spec, EncoderSpec.of(encoder))
            self._encoder = encoder
        return self._encoder.encode(texts)


def load_seed(
    path: Path,
    encoder: TextEncoder,
    *,
    cache_dir: Path | None = None,
    step: Progress | None = None,
) -> SeedSplit:
    """The seed file embedded (through the on-disk cache ``train_seed`` shares) and split."""
    rows = list(read_seed_rows(path))
    if not rows:
        raise DataError(f"{path}: no seed rows")
    sha = file_sha256(path)
    cache = None if cache_dir is None else embedding_cache_file(cache_dir, encoder.name, sha)
    prompts = [row.prompt for row in rows]
    report = step or quiet
    embeddings = embed(
        encoder, prompts, cache_file=cache, progress=lambda d, t: report("embedding seed", d, t)
    )
    X = build_features(prompts, embeddings)
    y = targets(rows)
    held = np.array([is_validation(row.id) for row in rows])
    return SeedSplit(
        X_train=X[~held],
        y_train=y[~held],
        X_val=X[held],
        val_rows=tuple(row for row, h in zip(rows, held, strict=True) if h),
        summary={
            "file": path.name,
            "sha256": sha,
            "rows": len(rows),
            "train_rows": int((~held).sum()),
            "validation_rows": int(held.sum()),
            "validation_rule": SPLIT_RULE,
        },
    )


def seed_comparison(
    seed: SeedSplit | None, base: DifficultyEstimator, candidate: DifficultyEstimator
) -> tuple[SeedComparison | None, npt.NDArray[np.float64] | None]:
    if seed is None or not seed.val_rows:
        return None, None
    texts = [row.prompt for row in seed.val_rows]
    candidate_scores = candidate.predict_text(texts, seed.X_val)
    comparison = SeedComparison(
        base=evaluate(seed.val_rows, base.predict_text(texts, seed.X_val)),
        candidate=evaluate(seed.val_rows, candidate_scores),
    )
    return comparison, candidate_scores


def quiet(step: str, done: int, total: int | None) -> None:
    """A progress report that reports nothing."""
