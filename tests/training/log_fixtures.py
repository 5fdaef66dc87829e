"""Logged decisions for tests: export rows in the contract's format, and a small synthetic world.

The world: prompts are random unit vectors; the cheap tier fails on a prompt with probability
sigmoid(SHARPNESS * x·u) for a hidden direction u, and every stronger tier succeeds except on a
few "unsolvable" prompts. A base model that has seen only noise scores prompts without regard to
u; logged traffic routed by it, with exploration, reveals u.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from classifiers.artifacts.store import save_artifact
from classifiers.artifacts.versions import write_current
from classifiers.difficulty import DifficultyEstimator
from classifiers.encoder import HashingEncoder
from classifiers.features import FEATURE_NAMES
from records import encode_embedding

DIMENSION = 16
ENCODER_NAME = HashingEncoder(DIMENSION).name  # seed prompts in tests embed with it
TIER_NAMES = ("fast", "standard", "reasoning", "deep")
TIER_COSTS = (0.001, 0.004, 0.02, 0.06)
BAND_STARTS = (0.0, 0.25, 0.55, 0.85)
SHARPNESS = 3.0
START = datetime(2026, 11, 1, tzinfo=UTC)


def logged_row(
    n: int,
    *,
    embedding: Sequence[float],
    features: Sequence[float] | None,
    score: float,
    tier_index: int,
    outcome: bool | None,
    choice_probability: float = 1.0,
    prompt: str | None = None,
    time: datetime | None = None,
    status: str = "ok",
    feedback: list[dict[str, Any]] | None = None,
    classifier_version: str = "base",
) -> dict[str, Any]:
    """One row of ``router logs export``, as the contract spells it."""
    when = time or START + timedelta(minutes=n)
    if feedback is None:
        feedback = (
            []
            if outcome is None
            else [
                {
                    "outcome": "success" if outcome else "failure",
                    "rating": None,
                    "verifier": None,
                    "source": "test",
                    "time": (when + timedelta(seconds=30)).isoformat(),
                }
            ]
        )
    return {
        "request_id": f"req-{n}",
        "time": when.isoformat().replace("+00:00", "Z"),
        "prompt_hash": hashlib.sha256(f"prompt {n}".encode()).hexdigest(),
        "prompt": prompt,
        "embedding": encode_embedding(embedding),
        "features": None if features is None else [float(v) for v in features],
        "score": float(score),
        "tier": TIER_NAMES[tier_index],
        "tier_index": tier_index,
        "model": f"provider/{TIER_NAMES[tier_index]}-model",
        "upstream_model": f"{TIER_NAMES[tier_index]}-model-2026",
        "choice_probability": float(choice_probability),
        "classifier_version": classifier_version,
        "policy_version": "test-policy",
        "prompt_tokens": 100,
        "completion_tokens": 50,
        "reasoning_tokens": 0 if tier_index < 2 else 400,
        "cost_usd": TIER_COSTS[tier_index],
        "latency_ms": 300.0 * (1 + tier_index),
        "status": status,
        "feedback": feedback,
    }


def write_export(path: Path, rows: Iterable[Mapping[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


def tier_for(score: float) -> int:
    return int(np.searchsorted(BAND_STARTS, score, side="right") - 1)


def explore(
    rng: np.random.Generator, policy_tier: int, exploration: float, tiers: int = len(TIER_NAMES)
) -> tuple[int, float]:
    """The tier actually used and its probability, under epsilon-uniform exploration."""
    tier = int(rng.integers(tiers)) if rng.random() < exploration else policy_tier
    chosen_by_policy = tier == policy_tier
    return tier, (1 - exploration) * chosen_by_policy + exploration / tiers


@dataclass
class World:
    seed: int = 0
    dimension: int = DIMENSION
    rng: np.random.Generator = field(init=False)
    direction: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        self.rng = np.random.default_rng(self.seed)
        u = self.rng.normal(size=self.dimension)
        self.direction = u / np.linalg.norm(u)

    def prompts(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        """Unit embeddings (rounded to float16, as logged) and ten text features."""
        x = self.rng.normal(size=(n, self.dimension))
        x /= np.linalg.norm(x, axis=1, keepdims=True)
        features = self.rng.normal(size=(n, len(FEATURE_NAMES)))
        return x.astype(np.float16).astype(np.float32), features.astype(np.float32)

    def cheap_fail_probability(self, embeddings: np.ndarray) -> np.ndarray:
        signal = embeddings @ self.direction * np.sqrt(self.dimension)
        return 1 / (1 + np.exp(-SHARPNESS * signal + 0.5))

    def fit_base(
        self, models_dir: Path, version: str = "base", rows: int = 300
    ) -> DifficultyEstimator:
        """A base that learned noise: gain targets unrelated to the hidden direction."""
        emb, features = self.prompts(rows)
        X = np.hstack([emb, features])
        other = self.rng.normal(size=self.dimension)
        other -= (other @ self.direction) * self.direction  # blind to the hidden direction
        groups = (emb @ other > 0).astype(float)  # chat (0) and knowledge (1)
        gain = self.rng.uniform(0.0, 0.3, size=rows)
        y = np.column_stack([groups, gain, np.full(rows, np.nan), np.full(rows, np.nan)])
        estimator = DifficultyEstimator(min_group_rows=20).fit(X, y)
        save_artifact(
            models_dir,
            version,
            estimator,
            encoder_name=ENCODER_NAME,
            encoder_dimension=self.dimension,
            feature_names=FEATURE_NAMES,
            training_data={"rows": rows, "source": "tests/training/log_fixtures.py"},
            metrics={"estimator": {"class": "DifficultyEstimator", **estimator.get_params()}},
        )
        write_current(models_dir, version)
        return estimator

    def traffic(
        self,
        base: DifficultyEstimator,
        n: int,
        *,
        exploration: float = 0.3,
        feedback_rate: float = 0.9,
        shuffle_outcomes_before: int = 0,
        start: int = 0,
    ) -> list[dict[str, Any]]:
        """``n`` logged decisions routed by ``base``; outcomes from the hidden direction.

        ``shuffle_outcomes_before``: the outcomes of the first rows are permuted among them, so
        the older traffic teaches noise while the newest stays true.
        """
        emb, features = self.prompts(n)
        scores = base.predict(np.hstack([emb, features]))
        fails = self.rng.random(n) < self.cheap_fail_probability(emb)
        unsolvable = fails & (self.rng.random(n) < 0.1)
        rows = []
        outcomes = []
        for i in range(n):
            tier, probability = explore(self.rng, tier_for(scores[i]), exploration)
            success = not fails[i] if tier == 0 else not unsolvable[i]
            outcomes.append(success if self.rng.random() < feedback_rate else None)
            rows.append((i, tier, probability))
        if shuffle_outcomes_before:
            head = outcomes[:shuffle_outcomes_before]
            self.rng.shuffle(head)
            outcomes[:shuffle_outcomes_before] = head
        return [
            logged_row(
                start + i,
                embedding=emb[i],
                features=features[i],
                score=float(scores[i]),
                tier_index=tier,
                outcome=outcomes[i],
                choice_probability=probability,
            )
            for i, tier, probability in rows
        ]
