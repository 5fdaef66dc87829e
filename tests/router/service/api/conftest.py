"""Fixtures for the service tests: a real app over a real local upstream.

The classifier is real but small: a Ridge fitted on a few dozen HashingEncoder embeddings, saved
as an artifact in a temporary models directory with CURRENT pointing at it, and loaded by the
app the way it loads the shipped one. ``EASY`` scores about 0.2 and ``HARD`` about 0.8, so they
land in different tiers of ``policy_data``.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sklearn.linear_model import Ridge

from classifiers.artifacts.store import save_artifact
from classifiers.artifacts.versions import write_current
from classifiers.encoder import HashingEncoder
from records import DecisionRecord
from router.log.decision_log import DecisionSink
from router.service.app import create_app
from router.settings import Settings
from tests.upstream_server import UpstreamServer

KEY_ENV = "DIFFICULTY_ROUTER_API_TEST_KEY"
KEY = "sk-api-test-secret-9876543210"
CLASSIFIER_VERSION = "api-test-1"
DIMENSION = 384

EASY = "What is the capital of Italy?"
HARD = "Design a lock-free concurrent queue, prove it linearisable and analyse its complexity."

_EASY_TEMPLATES = (
    "What is the capital of {topic}?",
    "Say hello to {topic} in one word.",
    "Spell the word {topic}.",
)
_HARD_TEMPLATES = (
    "Prove that for every prime p the field built from {topic} has exactly p^n elements,"
    " and derive the general bound step by step.",
    "Design a lock-free concurrent algorithm for {topic}, prove it linearisable and analyse"
    " its worst-case complexity.",
    "Given the integral of x^k e^(-x) over {topic}, find a closed form and justify every step.",
)
_TOPICS = ("France", "Peru", "Kenya", "Japan", "Chile", "Norway", "Egypt")


def user(text: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": text}]


def chat(client: TestClient, model: str = "auto", text: str = EASY, **extra: Any) -> httpx.Response:
    return client.post(
        "/v1/chat/completions", json={"model": model, "messages": user(text)} | extra
    )


def events(response: httpx.Response) -> list[str]:
    """The ``data:`` payloads of an SSE response, in order."""
    lines = response.text.splitlines()
    return [line.removeprefix("data: ") for line in lines if line.startswith("data: ")]


def _stream_payload() -> dict[str, Any]:
    return {"model": "auto", "messages": user(EASY), "stream": True}


def tier(
    name: str, band: tuple[float, float], model: str, url: str, **extra: Any
) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": name,
        "band": list(band),
        "model": model,
        "api_base": url,
        "api_key_env": KEY_ENV,
        "budget": {"effort": "none", "max_tokens": 256},
        "strategy": {"samples": 1, "select": "first"},
        "timeout_s": 5,
    }
    return data | extra


def policy_data(url: str) -> dict[str, Any]:
    """fast [0, 0.5) -> openai/fast-model (falls back to o3-mini); qwen [0.5, 0.6) on vLLM;
    vote [0.6, 0.7) samples 3; deep [0.7, 1] -> openai/o3-mini with high effort."""
    return {
        "version": "api-policy-1",
        "tiers": [
            tier("fast", (0.0, 0.5), "openai/fast-model", url, fallbacks=["openai/o3-mini"]),
            tier(
                "qwen",
                (0.5, 0.6),
                "hosted_vllm/qwen3-8b",
                url,
                budget={"budget_tokens": 2048, "max_tokens": 4096},
            ),
            tier(
                "vote",
                (0.6, 0.7),
                "openai/voter",
                url,
                strategy={"samples": 3, "select": "majority_vote"},
            ),
            tier(
                "deep",
                (0.7, 1.0),
                "openai/o3-mini",
                url,
                budget={"effort": "high", "max_tokens": 8192},
            ),
        ],
    }


@dataclass
class ListSink:
    """A decision sink that keeps what it is given."""

    records: list[DecisionRecord] = field(default_factory=list)
    closed: bool = False

    def write(self, record: DecisionRecord) -> None:
        self.records.append(record)

    def close(self) -> None:
        self.closed = True

    def wait_for(self, count: int = 1, timeout_s: float = 10.0) -> list[DecisionRecord]:
        deadline = time.monotonic() + timeout_s
        while len(self.records) < count and time.monotonic() < deadline:
            time.sleep(0.01)
        return list(self.records)


@pytest.fixture(autouse=True)
def _provider_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(KEY_ENV, KEY)


@cache
def fitted_ridge() -> Ridge:
    """Ridge on HashingEncoder embeddings of 21 easy (0.1) and 21 hard (0.9) prompts."""
    texts = [t.format(topic=topic) for t in _EASY_TEMPLATES for topic in _TOPICS]
    texts += [t.format(topic=topic) for t in _HARD_TEMPLATES for topic in _TOPICS]
    targets = [0.1] * (len(texts) // 2) + [0.9] * (len(texts) // 2)
    return Ridge(alpha=1.0).fit(HashingEncoder(DIMENSION).encode(texts), targets)


def publish_classifier(
    models_dir: Path, version: str = CLASSIFIER_VERSION, *, make_current: bool = True
) -> None:
    """Save the fitted Ridge as ``version`` and (unless told not to) point CURRENT at it."""
    save_artifact(
        models_dir,
        version,
        fitted_ridge(),
        encoder_name=HashingEncoder(DIMENSION).name,
        encoder_dimension=DIMENSION,
        feature_names=[],
        training_data={"rows": 42, "source": "tests/router/service/api/conftest.py"},
        metrics={},
    )
    if make_current:
        write_current(models_dir, version)


@pytest.fixture
def models_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "models"
    publish_classifier(directory)
    return directory


@pytest.fixture
def sink() -> ListSink:
    return ListSink()


@pytest.fixture
def write_policy(tmp_path: Path) -> Callable[[Mapping[str, Any]], Path]:
    def write(data: Mapping[str, Any]) -> Path:
        path = tmp_path / "policy.yaml"
        path.write_text(yaml.safe_dump(dict(data)), encoding="utf-8")
        return path

    return write


MakeApp = Callable[..., FastAPI]
MakeClient = Callable[..., TestClient]


@pytest.fixture
def make_app(
    models_dir: Path,
    sink: ListSink,
    write_policy: Callable[[Mapping[str, Any]], Path],
    upstream: UpstreamServer,
    tmp_path: Path,
) -> MakeApp:
    data_dir = tmp_path / "var"
    """``make_app(policy=None, *, sink=<the test's>, rng=None, **settings)``: the service over
    ``upstream`` (``policy_data`` by default) with the stand-in encoder; records go to the
    test's ``sink`` unless ``sink=None`` asks for the real decision log (SQLite in the test's
    data dir, or Redis if ``redis_url`` is given). Without keys in the data dir it is open
    (``open_access``: the TestClient's address is not loopback) unless told otherwise."""

    def make(
        policy: Mapping[str, Any] | None = None,
        *,
        sink: DecisionSink | None = sink,
        rng: random.Random | None = None,
        **settings: Any,
    ) -> FastAPI:
        path = write_policy(policy_data(upstream.url) if policy is None else policy)
        settings = {"open_access": True, "data_dir": data_dir} | settings
        config = Settings(models_dir=models_dir, policy_path=path, **settings)
        return create_app(
            config, encoder_loader=lambda _: HashingEncoder(DIMENSION), sink=sink, rng=rng
        )

    return make


@pytest.fixture
def make_client(make_app: MakeApp) -> Iterator[MakeClient]:
    """``make_client(policy=None, **options)``: a started TestClient for ``make_app(...)``."""
    with ExitStack() as stack:

        def make(policy: Mapping[str, Any] | None = None, **settings: Any) -> TestClient:
            client = TestClient(make_app(policy, **settings))
            return stack.enter_context(client)

        yield make


@pytest.fixture
def client(make_client: MakeClient) -> TestClient:
    """The service with ``policy_data`` and no retries (fallbacks happen at once)."""
    return make_client(upstream_retries=0)
