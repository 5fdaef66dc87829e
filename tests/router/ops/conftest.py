"""Synthetic logs for the ops unit tests: a known world, logged by a known explored policy.

Scores are uniform on [0, 1]; the logging policy is the small three-tier test policy (fast,
mid, deep) with exploration; each tier succeeds with a known probability per score and uses a
known number of tokens, so every figure of any policy has a true value to compare with.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from records import EXPORT_FIELDS
from router.decision.policy import Policy
from router.ops.simulation import tiers_of
from tests.router.conftest import decision_record

TIERS = ("fast", "mid", "deep")
CURVES = ((2.5, 6.0), (2.8, 4.0), (3.0, 2.0))  # P(success) = sigmoid(a - b * score)
COMPLETION_TOKENS = (100.0, 400.0, 2000.0)
REASONING_TOKENS = (0.0, 300.0, 1500.0)


def success_chance(tier: int, score: np.ndarray) -> np.ndarray:
    a, b = CURVES[tier]
    return 1.0 / (1.0 + np.exp(-(a - b * score)))


@dataclass
class Logged:
    score: np.ndarray
    tier: np.ndarray  # index served
    propensity: np.ndarray
    success: np.ndarray  # every tier's potential outcome, shape (n, 3)


def explored_log(policy: Policy, n: int, rate: float, seed: int = 0) -> Logged:
    """``n`` requests routed by ``policy`` with exploration ``rate`` (as ``Explorer`` does)."""
    rng = np.random.default_rng(seed)
    score = rng.uniform(0, 1, n)
    names = [tier.name for tier in policy.tiers]
    chosen = np.array([names.index(str(t)) for t in tiers_of(policy, score)])
    explore = rng.uniform(0, 1, n) < rate
    step = np.where(rng.uniform(0, 1, n) < 0.5, -1, 1)
    step = np.where(chosen == 0, 1, np.where(chosen == len(names) - 1, -1, step))
    served = np.where(explore, chosen + step, chosen)
    neighbours = np.where((chosen == 0) | (chosen == len(names) - 1), 1, 2)
    propensity = np.where(explore, rate / neighbours, 1 - rate)
    draws = rng.uniform(0, 1, (n, 1))
    success = draws < np.column_stack([success_chance(t, score) for t in range(3)])
    return Logged(score, served, propensity, success)


def write_export(path: Path, logged: Logged, *, feedback_every: int = 1) -> Path:
    """``logged`` as ``router logs export`` rows; every ``feedback_every``-th row has an
    outcome."""
    start = datetime(2026, 12, 1, tzinfo=UTC)
    with path.open("w", encoding="utf-8") as handle:
        for i, (score, tier, p) in enumerate(
            zip(logged.score, logged.tier, logged.propensity, strict=True)
        ):
            record = decision_record(
                i + 1,
                score=float(score),
                tier=TIERS[tier],
                tier_index=int(tier),
                choice_probability=float(p),
                prompt_tokens=50,
                completion_tokens=int(COMPLETION_TOKENS[tier]),
                reasoning_tokens=int(REASONING_TOKENS[tier]),
                cost_usd=0.0,
                latency_ms=100.0 * (tier + 1),
                policy_version="test-1",
            )
            row: dict[str, Any] = record.model_dump(mode="json", include=set(EXPORT_FIELDS))
            outcome = "success" if logged.success[i, tier] else "failure"
            time = (start + timedelta(seconds=i)).isoformat()
            row["feedback"] = (
                [{"outcome": outcome, "time": time}] if i % feedback_every == 0 else []
            )
            handle.write(json.dumps(row) + "\n")
    return path


def true_quality(policy: Policy, logged: Logged) -> float:
    names = [tier.name for tier in policy.tiers]
    chosen = np.array([names.index(str(t)) for t in tiers_of(policy, logged.score)])
    return float(logged.success[np.arange(len(chosen)), chosen].mean())
