"""A small routed world for the ops tests: seed prompts, a stand-in classifier, a local upstream
whose answers are right or wrong depending on the tier and the prompt's score, and policies.

The classifier is a Ridge over ``HashingEncoder`` embeddings fitted on seed prompts to a
difficulty per domain, published as an artifact, so the service scores exactly as the test
does. Each tier's model answers ``correct ...`` with probability sigmoid(a - b * score) (a
fixed draw per prompt and tier, so serving a prompt twice at a tier gives the same outcome),
with an answer length that depends on the prompt and a fixed number of reasoning tokens per
tier: quality, tokens and cost all differ by tier and score, and there is something to
estimate.
"""

from __future__ import annotations

import hashlib
import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from sklearn.linear_model import Ridge

from classifiers.artifacts.store import save_artifact
from classifiers.artifacts.versions import write_current
from classifiers.encoder import HashingEncoder
from tests.upstream_server import UpstreamServer
from training.datasets import read_seed_rows

SEED_DATA = Path(__file__).resolve().parents[3] / ".." / "shared" / "data" / "train.jsonl"
KEY_ENV = "DIFFICULTY_ROUTER_OPS_TEST_KEY"
DIMENSION = 384
VERSION = "ops-world-1"

TIERS = ("fast", "standard", "reasoning", "deep")
SUCCESS_CURVES = ((3.0, 9.0), (3.0, 6.0), (3.2, 4.5), (3.4, 3.2))  # P = sigmoid(a - b * score)
REASONING_TOKENS = (0, 120, 500, 1500)
PRICES = ((0.1, 0.4), (1.0, 4.0), (3.0, 15.0), (15.0, 75.0))  # USD per million in, out
DOMAIN_DIFFICULTY = {
    "smalltalk_simple": 0.05,
    "factoid": 0.1,
    "everyday_chat": 0.15,
    "easy_arith": 0.2,
    "real_chat": 0.3,
    "creative_writing": 0.3,
    "science_mc": 0.3,
    "commonsense_mc": 0.35,
    "knowledge_mc": 0.4,
    "grade_school_math": 0.45,
    "code": 0.6,
    "open_coding": 0.65,
    "open_math": 0.7,
    "competition_math": 0.8,
}


@dataclass
class World:
    prompts: list[str]
    ridge: Ridge

    @cached_property
    def encoder(self) -> HashingEncoder:
        return HashingEncoder(DIMENSION)

    def scores(self, texts: Sequence[str]) -> np.ndarray:
        raw = self.ridge.predict(self.encoder.encode(list(texts)))
        return np.clip(np.asarray(raw, dtype=np.float64), 0.0, 1.0)

    def succeeds(self, prompt: str, tier_index: int) -> bool:
        a, b = SUCCESS_CURVES[tier_index]
        score = float(self.scores([prompt])[0])
        chance = 1.0 / (1.0 + math.exp(-(a - b * score)))
        digest = hashlib.sha256(f"{tier_index}|{prompt}".encode()).digest()
        return int.from_bytes(digest[:4], "big") / 2**32 < chance

    def reply(self, tier_index: int) -> Any:
        def answer(body: dict[str, Any]) -> str:
            prompt = str(body["messages"][-1]["content"])
            verdict = "correct" if self.succeeds(prompt, tier_index) else "incorrect"
            return " ".join([verdict, *["word"] * (2 + len(prompt) % 40)])

        return answer

    def script(self, upstream: UpstreamServer) -> None:
        for index, name in enumerate(TIERS):
            upstream.script(
                f"{name}-model", reply=self.reply(index), reasoning_tokens=REASONING_TOKENS[index]
            )

    def publish(self, models_dir: Path) -> Path:
        save_artifact(
            models_dir,
            VERSION,
            self.ridge,
            encoder_name=self.encoder.name,
            encoder_dimension=DIMENSION,
            feature_names=[],
            training_data={"rows": 2000, "source": "tests/router/ops/world.py"},
            metrics={},
        )
        write_current(models_dir, VERSION)
        return models_dir

    def policy(self, path: Path, url: str, shares: Sequence[float], version: str) -> Path:
        """A four-tier policy over ``url`` whose bands give ``shares`` of the world's prompts."""
        ranked = np.sort(self.scores(self.prompts))
        cuts = np.cumsum(shares)[:-1]
        edges = [round(float(ranked[round(q * len(ranked))]), 6) for q in cuts]
        bounds = [0.0, *edges, 1.0]
        tiers = [
            {
                "name": name,
                "band": [bounds[i], bounds[i + 1]],
                "model": f"openai/{name}-model",
                "api_base": url,
                "api_key_env": KEY_ENV,
                "reasoning": "none",
                "budget": {"effort": "none", "max_tokens": 512},
                "strategy": {"samples": 1, "select": "first"},
                "timeout_s": 10,
                "price": {"input_per_mtok": PRICES[i][0], "output_per_mtok": PRICES[i][1]},
            }
            for i, name in enumerate(TIERS)
        ]
        path.write_text(yaml.safe_dump({"version": version, "tiers": tiers}), encoding="utf-8")
        return path


def seed_world(requests: int, seed: int = 0) -> World:
    """``requests`` seed prompts to serve, and a Ridge fitted on 2,000 others."""
    if not SEED_DATA.exists():
        pytest.skip(f"seed data not at {SEED_DATA}")
    rows = [row for row in read_seed_rows(SEED_DATA) if row.domain in DOMAIN_DIFFICULTY]
    rng = random.Random(seed)
    picked = rng.sample(rows, requests + 2000)
    fit, serve = picked[:2000], picked[2000:]
    encoder = HashingEncoder(DIMENSION)
    ridge = Ridge(alpha=1.0).fit(
        encoder.encode([row.prompt.strip() for row in fit]),
        [DOMAIN_DIFFICULTY[row.domain] for row in fit],
    )
    return World([row.prompt.strip() for row in serve], ridge)
