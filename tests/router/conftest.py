"""Fixtures for the router tests: a small policy file and a deterministic stand-in scorer."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from router.cli import CliDeps
from router.policy import Policy, load_policy
from router.settings import Settings

WritePolicy = Callable[..., Path]


def tier_data(name: str, band: tuple[float, float], **overrides: Any) -> dict[str, Any]:
    """One tier as it appears in a policy file; ``overrides`` replace or add keys."""
    data: dict[str, Any] = {
        "name": name,
        "band": list(band),
        "model": f"openai/{name}-model",
        "api_key_env": "OPENAI_API_KEY",
        "budget": {"effort": "none", "max_tokens": 1024},
        "strategy": {"samples": 1, "select": "first"},
        "fallbacks": [f"anthropic/{name}-fallback"],
        "timeout_s": 30,
    }
    data.update(overrides)
    return data


def small_policy_data() -> dict[str, Any]:
    """Three tiers: fast [0, 0.3), mid [0.3, 0.7), deep [0.7, 1]."""
    return {
        "version": "test-1",
        "tiers": [
            tier_data("fast", (0.0, 0.3)),
            tier_data("mid", (0.3, 0.7), budget={"effort": "low", "max_tokens": 4096}),
            tier_data(
                "deep",
                (0.7, 1.0),
                model="anthropic/deep-model",
                api_key_env="ANTHROPIC_API_KEY",
                budget={"effort": "high", "budget_tokens": 8000, "max_tokens": 16000},
                strategy={"samples": 3, "select": "majority_vote"},
                fallbacks=["openai/deep-fallback"],
                timeout_s=300,
            ),
        ],
    }


@dataclass
class FakeScorer:
    """Scores texts from a table (``default`` for the rest) and records what it was asked."""

    scores: Mapping[str, float] = field(default_factory=dict)
    default: float = 0.1
    version: str = "fake-1"
    calls: list[list[str]] = field(default_factory=list)

    def score_one(self, text: str) -> float:
        self.calls.append([text])
        return self.scores.get(text, self.default)

    def embed_and_score(self, texts: Sequence[str]) -> tuple[Any, Any]:
        self.calls.append(list(texts))
        scores = np.array([self.scores.get(text, self.default) for text in texts])
        return np.zeros((len(texts), 3), dtype=np.float32), scores


@pytest.fixture
def write_policy(tmp_path: Path) -> WritePolicy:
    """Write policy data (a mapping, dumped as YAML) or raw YAML text; returns the path."""

    def write(content: Mapping[str, Any] | str, name: str = "policy.yaml") -> Path:
        path = tmp_path / name
        text = content if isinstance(content, str) else yaml.safe_dump(dict(content))
        path.write_text(text, encoding="utf-8")
        return path

    return write


@pytest.fixture
def policy_path(write_policy: WritePolicy) -> Path:
    return write_policy(small_policy_data())


@pytest.fixture
def policy(policy_path: Path) -> Policy:
    return load_policy(policy_path, env={})


@pytest.fixture
def fake_scorer() -> FakeScorer:
    return FakeScorer()


@pytest.fixture
def cli_deps(tmp_path: Path, policy_path: Path, fake_scorer: FakeScorer) -> CliDeps:
    """Real settings pointing at the small policy, and the fake scorer instead of the model."""
    models_dir = tmp_path / "models"
    models_dir.mkdir()
    settings = Settings(models_dir=models_dir, policy_path=policy_path)
    return CliDeps(settings=lambda: settings, scorer=lambda _: fake_scorer)
