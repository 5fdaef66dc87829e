"""The decision record kept for each answer, and where it goes.

POST /v1/chat/completions through the real app, litellm and a real local upstream.
"""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from classifiers.encoder import HashingEncoder
from classifiers.features import text_features
from tests.router.service.api.conftest import (
    CLASSIFIER_VERSION,
    EASY,
    HARD,
    ListSink,
    MakeClient,
    chat,
    policy_data,
)
from tests.upstream_server import PROMPT_TOKENS, UpstreamServer


def test_each_answer_is_recorded_with_its_decision_and_cost(
    client: TestClient, upstream: UpstreamServer, sink: ListSink
) -> None:
    upstream.script("o3-mini", answers=["done"], reasoning_tokens=4)
    response = chat(client, text=HARD)

    (record,) = sink.wait_for(1)
    assert record.request_id == response.headers["x-router-request-id"]
    assert record.prompt_hash == hashlib.sha256(HARD.encode()).hexdigest()
    assert record.prompt == HARD
    assert (record.tier, record.model, record.upstream_model) == (
        "deep",
        "openai/o3-mini",
        "openai/o3-mini",
    )
    assert record.score == pytest.approx(float(response.headers["x-router-score"]), abs=1e-4)
    assert (record.prompt_tokens, record.completion_tokens, record.reasoning_tokens) == (
        PROMPT_TOKENS,
        5,
        4,
    )
    assert record.cost_usd > 0.0
    assert record.classifier_version == CLASSIFIER_VERSION
    assert record.policy_version == "api-policy-1"
    assert record.choice_probability == 1.0
    assert record.latency_ms >= (record.upstream_ms or 0.0) > 0.0
    assert record.status == "ok"
    assert record.tier_index == 3
    expected = HashingEncoder(384).encode([HARD])[0]
    assert np.frombuffer(record.embedding, dtype="<f2") == pytest.approx(expected, abs=1e-3)
    assert list(record.features) == pytest.approx(text_features(HARD))


def test_prompts_stay_out_of_the_record_when_not_kept(
    make_client: MakeClient, upstream: UpstreamServer, sink: ListSink
) -> None:
    chat(make_client(store_prompt_text=False))

    (record,) = sink.wait_for(1)
    assert record.prompt is None
    assert record.prompt_hash == hashlib.sha256(EASY.encode()).hexdigest()
    assert len(record.embedding) == 2 * 384
    assert list(record.features) == pytest.approx(text_features(EASY))


def test_by_default_records_go_to_sqlite_under_the_data_dir(
    models_dir: Any, tmp_path: Any, upstream: UpstreamServer
) -> None:
    import yaml

    from classifiers.encoder import HashingEncoder
    from router.log.store.sqlite import SQLiteStore
    from router.service.app import create_app
    from router.settings import Settings

    path = tmp_path / "default-sink.yaml"
    path.write_text(yaml.safe_dump(policy_data(upstream.url)), encoding="utf-8")
    settings = Settings(models_dir=models_dir, policy_path=path, data_dir=tmp_path / "data")
    app = create_app(settings, encoder_loader=lambda _: HashingEncoder(384))
    with TestClient(app, base_url="http://127.0.0.1") as client:
        response = chat(client)

    store = SQLiteStore(tmp_path / "data" / "decisions.sqlite3")
    (logged,) = store.logged()
    store.close()
    assert logged.record.request_id == response.headers["x-router-request-id"]
