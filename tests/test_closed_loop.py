"""The closed loop through the service: serve, explore, collect feedback, export, retrain, reload.

A base classifier that never saw an MMLU outcome routes 2,000 MMLU training prompts through the
real app (exploration on) to a local upstream; each answer's outcome comes back as feedback: the
weak model's recorded correctness (Mixtral's) when the cheapest tier served it, the strong
model's (GPT-4's) above. ``router logs export`` and ``router train --logs`` then fit, gate and
promote a candidate, which must rank MMLU validation prompts better than the base, and which the
still-running service must pick up by itself from CURRENT.

The encoder is a lookup of the cached real MiniLM embeddings of the seed prompts (``make test``
writes that cache with ``router embed``), so nothing is re-embedded and every score is real.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Sequence
from pathlib import Path

import pytest
import yaml
from fastapi.testclient import TestClient
from typer.testing import CliRunner, Result

from classifiers.artifacts.versions import read_current
from router.cli.deps import CliDeps
from router.cli.main import app
from router.service.app import create_app
from router.settings import SHIPPED_POLICY, Settings
from tests.training.seed_fixtures import (  # noqa: F401 (real_seed is a fixture)
    LookupEncoder,
    RealSeed,
    mmlu_world,
    real_seed,
)
from tests.upstream_server import UpstreamServer
from training.datasets import SeedRow
from training.gate import GateDecision
from training.gate_report import GATE_FILE
from training.labels import STRONG_MODEL, WEAK_MODEL

KEY_ENV = "DIFFICULTY_ROUTER_CLOSED_LOOP_KEY"
EXPLORATION_RATE = 0.3
RELOAD_INTERVAL_S = 0.2
REQUESTS = 1500  # MMLU training prompts replayed: about 20 s on a quiet machine


def local_policy(path: Path, upstream_url: str) -> Path:
    """The shipped policy's tiers and bands, every tier one sample of a local model."""
    data = yaml.safe_load(SHIPPED_POLICY.read_text(encoding="utf-8"))
    data["version"] = "closed-loop-1"
    for tier in data["tiers"]:
        tier |= {
            "model": f"openai/{tier['name']}-model",
            "api_base": upstream_url,
            "api_key_env": KEY_ENV,
            "budget": {"effort": "none", "max_tokens": 256},
            "strategy": {"samples": 1, "select": "first"},
            "fallbacks": [],
            "timeout_s": 10,
        }
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def served_text_encoder(real: RealSeed) -> LookupEncoder:
    """The seed prompts' embeddings, also under the stripped text the service scores (MiniLM's
    tokenizer drops surrounding whitespace, so the embedding is the same)."""
    return LookupEncoder(real.embeddings | {k.strip(): v for k, v in real.embeddings.items()})


def outcome(row: SeedRow, tier_index: int) -> str:
    """The recorded outcome of the model that would have answered at this tier."""
    model = WEAK_MODEL if tier_index == 0 else STRONG_MODEL
    return "success" if row.model_correct[model] else "failure"


def replay(client: TestClient, traffic: Sequence[SeedRow], tiers: Sequence[str]) -> list[str]:
    """Send each prompt as ``auto`` and report its outcome; the tiers that served them."""
    served = []
    for row in traffic:
        response = client.post(
            "/v1/chat/completions",
            json={"model": "auto", "messages": [{"role": "user", "content": row.prompt}]},
        )
        assert response.status_code == 200, response.text
        tier = response.headers["x-router-tier"]
        feedback = client.post(
            "/v1/feedback",
            json={
                "request_id": response.headers["x-router-request-id"],
                "outcome": outcome(row, tiers.index(tier)),
                "source": "closed-loop-test",
            },
        )
        assert feedback.status_code == 200, feedback.text
        served.append(tier)
    return served


def cli(settings: Settings, encoder: LookupEncoder, *args: str) -> Result:
    """``router ARGS...`` with the test's settings and encoder."""
    deps = CliDeps(settings=lambda: settings, encoder=lambda _: encoder)
    return CliRunner().invoke(app, list(args), obj=deps)


def classifier_version(client: TestClient, prompt: str) -> str:
    response = client.post(
        "/v1/chat/completions",
        json={"model": "auto", "messages": [{"role": "user", "content": prompt}]},
    )
    assert response.status_code == 200, response.text
    return response.headers["x-router-classifier-version"]


def wait_for_version(client: TestClient, prompt: str, version: str, timeout_s: float) -> str:
    deadline = time.monotonic() + timeout_s
    serving = classifier_version(client, prompt)
    while serving != version and time.monotonic() < deadline:
        time.sleep(RELOAD_INTERVAL_S / 2)
        serving = classifier_version(client, prompt)
    return serving


@pytest.mark.slow
def test_feedback_through_the_service_retrains_a_promoted_classifier_that_the_service_loads(
    tmp_path: Path,
    real_seed: RealSeed,  # noqa: F811 (the imported fixture)
    upstream: UpstreamServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(KEY_ENV, "sk-closed-loop-test")
    models, seed_file, world_traffic, _ = mmlu_world(
        real_seed, tmp_path, base_sees_mmlu_outcomes=False
    )
    traffic = world_traffic[:REQUESTS]
    base = read_current(models)
    assert base is not None
    settings = Settings(
        models_dir=models,
        policy_path=local_policy(tmp_path / "policy.yaml", upstream.url),
        data_dir=tmp_path / "var",
        exploration_rate=EXPLORATION_RATE,
        reload_interval_s=RELOAD_INTERVAL_S,
    )
    settings.data_dir.mkdir()
    encoder = served_text_encoder(real_seed)
    service = create_app(settings, encoder_loader=lambda _: encoder, rng=random.Random(7))
    tiers = [tier["name"] for tier in yaml.safe_load(settings.policy_path.read_text())["tiers"]]
    started = time.monotonic()

    with TestClient(service, base_url="http://127.0.0.1") as client:
        assert classifier_version(client, traffic[0].prompt) == base
        served = replay(client, traffic, tiers)
        replayed = time.monotonic()
        export = tmp_path / "export.jsonl"
        exported = cli(settings, encoder, "logs", "export", "--out", str(export))
        assert exported.exit_code == 0, exported.output
        decisions = len(traffic) + 1  # and the first probe of the classifier version
        assert f"exported {decisions} decisions ({len(traffic)} with feedback)" in exported.output

        trained = cli(
            settings,
            encoder,
            *("train", "--logs", str(export), "--seed-data", str(seed_file)),
            *("--base", base, "--version", "from-logs"),
        )
        retrained = time.monotonic()

        assert trained.exit_code == 0, trained.output
        assert read_current(models) == "from-logs"
        serving = wait_for_version(client, traffic[0].prompt, "from-logs", timeout_s=10)

    gate = GateDecision.from_dict(
        json.loads((models / "from-logs" / "report" / GATE_FILE).read_text(encoding="utf-8"))
    )
    domain = gate.row("seed:auroc_weak_model_fails")
    assert domain.base is not None and domain.candidate is not None
    print(
        f"\nclosed loop through the service: {len(traffic)} requests"
        f" ({served.count(tiers[0])} at {tiers[0]!r}) in {replayed - started:.1f} s,"
        f" export + retrain {retrained - replayed:.1f} s; MMLU validation rows"
        f" (n={domain.n}), AUROC for 'the weak model fails': before {domain.base:.3f},"
        f" after {domain.candidate:.3f}; {gate.reason}"
    )
    assert gate.passed, gate.reason
    assert serving == "from-logs"
    assert domain.candidate > domain.base + 0.03
    assert 0 < served.count(tiers[0]) < len(traffic), "both outcome sources were exercised"
