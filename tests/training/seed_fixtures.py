"""The real seed data for the retraining tests, and an MMLU world built from it.

``real_seed`` holds the seed rows with their cached MiniLM embeddings (the tests that take it
are skipped without them); ``mmlu_world`` fits a base on a seed file and ``mmlu_export`` logs the
decisions it routes; ``TIERS`` is the shipped policy's tier layout.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from classifiers.artifacts.store import save_artifact
from classifiers.artifacts.versions import write_current
from classifiers.difficulty import DifficultyEstimator
from classifiers.features import FEATURE_NAMES, build_features, text_features
from classifiers.onnx_encoder import ONNX_NAME
from router.decision.policy_file import load_policy
from router.settings import SHIPPED_POLICY, Settings
from tests.training.log_fixtures import explore, logged_row, tier_for, write_export
from tests.training.test_train import write_rows
from training.datasets import SeedRow, file_sha256, read_seed_rows
from training.labels import STRONG_MODEL, WEAK_MODEL
from training.retrain import TierLayout
from training.retrain_seed import SeedSplit, load_seed
from training.train import embedding_cache_file, is_validation

SEED_DATA = Path(__file__).resolve().parents[3] / "shared" / "data" / "train.jsonl"
POLICY = load_policy(SHIPPED_POLICY, env={})
TIERS = TierLayout.from_bands([tier.band for tier in POLICY.tiers])


@dataclass(frozen=True)
class RealSeed:
    rows: tuple[SeedRow, ...]
    embeddings: dict[str, np.ndarray]


class LookupEncoder:
    """MiniLM (int8 ONNX) embeddings looked up from the cache ``router embed`` writes."""

    def __init__(self, embeddings: dict[str, np.ndarray]) -> None:
        self.embeddings = embeddings

    @property
    def name(self) -> str:
        return ONNX_NAME

    @property
    def dimension(self) -> int:
        return 384

    @property
    def files_sha256(self) -> str | None:
        return None

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        return np.stack([self.embeddings[text] for text in texts]).astype(np.float32)


@pytest.fixture(scope="module")
def real_seed() -> RealSeed:
    if not SEED_DATA.exists():
        pytest.skip(f"seed data not at {SEED_DATA}")
    cache = embedding_cache_file(
        Settings().data_dir / "embeddings", ONNX_NAME, file_sha256(SEED_DATA)
    )
    rows = tuple(read_seed_rows(SEED_DATA))
    if not cache.exists() or np.load(cache, mmap_mode="r").shape != (len(rows), 384):
        pytest.skip(
            f"no cached MiniLM (int8 ONNX) embeddings of the seed data at {cache}: run `router"
            f" embed --data {SEED_DATA}` once (`make test` does; embedding the seed file takes"
            " minutes, too long for a test)"
        )
    matrix = np.load(cache)
    return RealSeed(rows, {row.prompt: matrix[i] for i, row in enumerate(rows)})


def without_outcomes(row: SeedRow) -> SeedRow:
    return replace(row, labels={k: v for k, v in row.labels.items() if k != "correct"})


def without_subject(row: SeedRow) -> SeedRow:
    """Outcomes without topics: no topic model, whose fit takes most of a minute."""
    return replace(row, labels={k: v for k, v in row.labels.items() if k != "subject"})


def seed_line(row: SeedRow) -> dict[str, Any]:
    return {
        "id": row.id,
        "source": row.source,
        "domain": row.domain,
        "prompt": row.prompt,
        "labels": dict(row.labels),
        "licence": row.licence,
    }


def mmlu_world(
    real: RealSeed, tmp_path: Path, *, base_sees_mmlu_outcomes: bool
) -> tuple[Path, Path, list[SeedRow], np.ndarray]:
    """A seed file, a published base fitted on its training share, and 2,000 MMLU prompts.

    The seed file: 3,000 rows of other domains, 500 MMLU training rows (their outcomes dropped
    unless ``base_sees_mmlu_outcomes``) and every MMLU validation row *with* its outcomes, which
    only ever serve evaluation (``is_validation`` keeps them out of every fit).
    """
    rng = np.random.default_rng(0)
    mmlu = [r for r in real.rows if r.source == "routellm_mmlu"]
    mmlu_train = [mmlu[i] for i in rng.permutation(len(mmlu)) if not is_validation(mmlu[i].id)]
    mmlu_val = [r for r in mmlu if is_validation(r.id)]
    others = [r for r in real.rows if r.source != "routellm_mmlu"]
    others = [others[i] for i in rng.choice(len(others), size=3000, replace=False)]
    seed_mmlu = [
        without_subject(r) if base_sees_mmlu_outcomes else without_outcomes(r)
        for r in mmlu_train[:500]
    ]
    seed_file = write_rows(
        tmp_path / "seed.jsonl", (seed_line(r) for r in [*others, *seed_mmlu, *mmlu_val])
    )
    split = load_seed(seed_file, LookupEncoder(real.embeddings))
    base = DifficultyEstimator().fit(split.X_train, split.y_train)
    models = publish_base(tmp_path / "models", split, base)
    traffic = mmlu_train[500:2500]
    embeddings = np.stack([real.embeddings[r.prompt] for r in traffic])
    prompts = [r.prompt for r in traffic]
    return models, seed_file, traffic, base.predict(build_features(prompts, embeddings))


def mmlu_export(
    path: Path,
    real: RealSeed,
    traffic: Sequence[SeedRow],
    scores: np.ndarray,
    *,
    shuffle_before: int = 0,
) -> Path:
    """Decisions routed by the base's scores through the shipped policy, 30% explored; the
    outcome at the cheap tier is Mixtral's, above it GPT-4's (RouteLLM's recorded outcomes)."""
    rng = np.random.default_rng(1)
    decisions = []
    for row, score in zip(traffic, scores, strict=True):
        tier, probability = explore(rng, tier_for(float(score)), 0.3)
        model = WEAK_MODEL if tier == 0 else STRONG_MODEL
        outcome = bool(row.model_correct[model]) if rng.random() < 0.85 else None
        decisions.append((row, float(score), tier, probability, outcome))
    if shuffle_before:
        head = [d[4] for d in decisions[:shuffle_before]]
        rng.shuffle(head)
        decisions[:shuffle_before] = [(*d[:4], o) for d, o in zip(decisions, head, strict=False)]
    return write_export(
        path,
        (
            logged_row(
                n,
                embedding=real.embeddings[row.prompt],
                features=None if n % 2 else text_features(row.prompt),
                prompt=row.prompt,
                score=score,
                tier_index=tier,
                outcome=outcome,
                choice_probability=probability,
                classifier_version="seed",
            )
            for n, (row, score, tier, probability, outcome) in enumerate(decisions)
        ),
    )


def publish_base(models: Path, split: SeedSplit, base: DifficultyEstimator) -> Path:
    """``base``, fitted on ``split``, published as version "seed" and made CURRENT."""
    save_artifact(
        models,
        "seed",
        base,
        encoder_name=ONNX_NAME,
        encoder_dimension=384,
        feature_names=FEATURE_NAMES,
        training_data=split.summary,
        metrics={"estimator": {"class": "DifficultyEstimator", **base.get_params()}},
    )
    write_current(models, "seed")
    return models
