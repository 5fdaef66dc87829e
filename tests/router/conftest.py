"""Fixtures for the router tests: a small policy file, a deterministic stand-in scorer, and
``decision_record`` for tests of the decision log."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from records import Budget, DecisionRecord, ScoredPrompt, Strategy
from router.cli.deps import CliDeps
from router.decision.policy import Policy
from router.decision.policy_file import load_policy
from router.settings import Settings

WritePolicy = Callable[..., Path]
RECORD_START = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


def decision_record(n: int = 1, **overrides: Any) -> DecisionRecord:
    """Record number ``n`` (request id ``req_<n>``, ``n`` seconds after ``RECORD_START``), with
    every field set to something non-default; ``overrides`` replace fields."""
    text = f"Prompt {n}: what is {n} + {n}? Answer in one word."
    vector = np.linspace(-1.0, 1.0, 384) * (1 + n % 7) / 8
    prompt = ScoredPrompt.of(text, vector)
    data: dict[str, Any] = {
        "request_id": f"req_{n}",
        "time": RECORD_START + timedelta(seconds=n),
        "requested_model": "auto",
        "stream": n % 2 == 0,
        "prompt_hash": prompt.hash,
        "prompt": text,
        "embedding": prompt.embedding,
        "features": prompt.features,
        "score": 0.25,
        "tier": "mid",
        "tier_index": 1,
        "model": "openai/mid-model",
        "budget": Budget(effort="low", budget_tokens=512, max_tokens=4096),
        "strategy": Strategy(samples=3, select="majority_vote"),
        "classifier_version": "clf-1",
        "policy_version": "pol-1",
        "choice_probability": 0.9,
        "decision_ms": 1.25,
        "upstream_model": "mid-model-2026",
        "prompt_tokens": 11,
        "completion_tokens": 7,
        "reasoning_tokens": 5,
        "cost_usd": 0.0015,
        "upstream_ms": 80.5,
        "latency_ms": 95.0,
        "vote": "2/3",
        "status": "ok",
    }
    return DecisionRecord(**(data | overrides))


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


@pytest.fixture(autouse=True)
def _data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Settings built without a data_dir put the decision log in the test's directory, not in
    the project's var/."""
    monkeypatch.setenv("ROUTER_DATA_DIR", str(tmp_path / "var"))


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
