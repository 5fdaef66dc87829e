"""Fixtures for the classifier tests: stand-in models, labelled prompts and fitted estimators."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sklearn.linear_model import Ridge

from classifiers.artifacts.manifest import Manifest
from classifiers.artifacts.store import save_artifact
from classifiers.encoder import Embeddings, Encoder, HashingEncoder

EASY_TEMPLATES = (
    "What is the capital of {topic}?",
    "Say hello to {topic} in one word.",
    "Spell the word {topic}.",
)
HARD_TEMPLATES = (
    "Prove that for every prime p the field built from {topic} has exactly p^n elements,"
    " and derive the general bound step by step.",
    "Design a lock-free concurrent algorithm for {topic}, prove it linearisable and analyse"
    " its worst-case complexity.",
    "Given the integral of x^k e^(-x) over {topic}, find a closed form and justify every step.",
)
TOPICS = ("France", "Peru", "Kenya", "Japan", "Chile", "Norway", "Egypt")


class CountingModel:
    """Stands in for SentenceTransformer: hashed trigrams, and a record of every batch asked for."""

    def __init__(self, dimension: int = 32) -> None:
        self.dimension = dimension
        self.batches: list[list[str]] = []
        self._hashing = HashingEncoder(dimension)

    def encode(
        self,
        inputs: list[str],
        /,
        *,
        batch_size: int,
        show_progress_bar: bool,
        convert_to_numpy: bool,
        normalize_embeddings: bool,
    ) -> Embeddings:
        assert not show_progress_bar and convert_to_numpy and normalize_embeddings
        self.batches.append(list(inputs))
        return self._hashing.encode(inputs)

    @property
    def embedded(self) -> list[str]:
        return [text for batch in self.batches for text in batch]


@pytest.fixture
def counting_model() -> CountingModel:
    return CountingModel()


@pytest.fixture
def make_encoder(counting_model: CountingModel) -> Callable[..., Encoder]:
    def make(*, cache_size: int = 8, batch_size: int = 32) -> Encoder:
        return Encoder(
            counting_model,
            dimension=counting_model.dimension,
            name="counting-stand-in",
            batch_size=batch_size,
            cache_size=cache_size,
        )

    return make


@pytest.fixture
def hashing_encoder() -> HashingEncoder:
    return HashingEncoder(384)


def labelled_prompts() -> tuple[list[str], np.ndarray]:
    """42 prompts: trivial ones labelled 0.1, multi-step proofs and designs labelled 0.9."""
    easy = [template.format(topic=topic) for template in EASY_TEMPLATES for topic in TOPICS]
    hard = [template.format(topic=topic) for template in HARD_TEMPLATES for topic in TOPICS]
    return easy + hard, np.array([0.1] * len(easy) + [0.9] * len(hard))


def with_length(texts: Sequence[str], embeddings: Embeddings) -> np.ndarray:
    """A feature_fn like the real one: the embedding, then a log character count."""
    lengths = np.log1p([[len(text)] for text in texts]).astype(np.float32)
    return np.hstack([embeddings, lengths])


@pytest.fixture
def fitted_ridge(hashing_encoder: HashingEncoder) -> Ridge:
    texts, targets = labelled_prompts()
    return Ridge(alpha=1.0).fit(hashing_encoder.encode(texts), targets)


@pytest.fixture
def models_dir(tmp_path: Path) -> Path:
    return tmp_path / "models"


def save(models_dir: Path, version: str, estimator: Any, dimension: int = 384) -> Manifest:
    return save_artifact(
        models_dir,
        version,
        estimator,
        encoder_name=HashingEncoder(dimension).name,
        encoder_dimension=dimension,
        feature_names=[],
        training_data={"rows": 42, "source": "tests/classifiers/conftest.py"},
        metrics={"train_r2": 0.99},
    )


@pytest.fixture
def saved_v1(models_dir: Path, fitted_ridge: Ridge) -> Path:
    save(models_dir, "v1", fitted_ridge)
    return models_dir / "v1"


@pytest.fixture(scope="session")
def real_encoder() -> Encoder:
    return Encoder.load(batch_size=4, cache_size=16)
