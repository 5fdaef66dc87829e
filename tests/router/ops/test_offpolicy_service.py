"""Acceptance: off-policy estimates from a logged, explored run match serving the candidate.

5,000 seed prompts are served through the real app (stand-in encoder, real local upstream)
under the current policy with exploration 0.3; each answer is checked and the verdict sent back
as feedback; the log is exported. ``router policy tune`` proposes a candidate for target shares,
``router policy simulate`` estimates its cost and quality from the export alone, and then the
same prompts are served under the candidate (exploration off) and measured. The estimates must
fall within 5% (relative) of the measured values, and ``simulate`` must say its estimates are
precise to that target.
"""

from __future__ import annotations

import json
import random
import time
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner, Result

from router.cli.deps import CliDeps
from router.cli.main import app
from router.service.app import create_app
from router.settings import Settings
from tests.router.ops.world import KEY_ENV, TIERS, World, seed_world
from tests.router.service.api.conftest import ListSink
from tests.upstream_server import UpstreamServer

REQUESTS = 5000
EXPLORATION_RATE = 0.3
CURRENT_SHARES = (0.35, 0.3, 0.2, 0.15)
TARGET_SHARES = "fast=0.5,standard=0.3,reasoning=0.15,deep=0.05"
TOLERANCE = 0.05


def serve(client: TestClient, world: World, *, feedback: bool) -> list[bool]:
    """Each prompt as ``auto``; whether its answer was right (sent back as feedback if asked)."""
    right = []
    for prompt in world.prompts:
        response = client.post(
            "/v1/chat/completions",
            json={"model": "auto", "messages": [{"role": "user", "content": prompt}]},
        )
        assert response.status_code == 200, response.text
        passed = response.json()["choices"][0]["message"]["content"].startswith("correct")
        right.append(passed)
        if feedback:
            sent = client.post(
                "/v1/feedback",
                json={
                    "request_id": response.headers["x-router-request-id"],
                    "verifier": {"name": "answer-check", "passed": passed},
                },
            )
            assert sent.status_code == 200, sent.text
    return right


def cli(settings: Settings, *args: str) -> Result:
    result = CliRunner().invoke(app, list(args), obj=CliDeps(settings=lambda: settings))
    assert result.exit_code == 0, result.output
    return result


@pytest.mark.slow
def test_off_policy_cost_and_quality_match_serving_the_candidate(
    tmp_path: Path, upstream: UpstreamServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(KEY_ENV, "sk-ops-test")
    world = seed_world(REQUESTS)
    world.script(upstream)
    models = world.publish(tmp_path / "models")
    current = world.policy(tmp_path / "current.yaml", upstream.url, CURRENT_SHARES, "current-1")
    settings = Settings(
        models_dir=models,
        policy_path=current,
        data_dir=tmp_path / "var",
        exploration_rate=EXPLORATION_RATE,
        reload_interval_s=0,
        open_access=True,  # no keys, and the test client's address is not loopback
    )
    settings.data_dir.mkdir()
    started = time.monotonic()
    logged_app = create_app(settings, encoder_loader=lambda _: world.encoder, rng=random.Random(3))
    with TestClient(logged_app) as client:
        serve(client, world, feedback=True)
    export = tmp_path / "export.jsonl"
    cli(settings, "logs", "export", "--out", str(export))
    logged = time.monotonic()

    candidate = tmp_path / "candidate.yaml"
    tuned = cli(
        settings, "policy", "tune", "--share", TARGET_SHARES, "--logs", str(export),
        "--out", str(candidate), "--version", "candidate-1", "--json",
    )  # fmt: skip
    shares = json.loads(tuned.stdout)["figures"]["shares"]
    simulated = cli(settings, "policy", "simulate", str(candidate), "--logs", str(export), "--json")
    estimate = json.loads(simulated.stdout)

    sink = ListSink()
    serving = settings.model_copy(update={"policy_path": candidate, "exploration_rate": 0.0})
    candidate_app = create_app(serving, encoder_loader=lambda _: world.encoder, sink=sink)
    with TestClient(candidate_app) as client:
        right = serve(client, world, feedback=False)
    records = sink.wait_for(REQUESTS, timeout_s=30)
    measured_quality = float(np.mean(right))
    measured_cost = 1000 * float(np.mean([record.cost_usd for record in records]))
    measured_shares = {t: sum(r.tier == t for r in records) / len(records) for t in TIERS}

    quality = estimate["candidate"]["quality"]
    cost = estimate["candidate"]["cost_per_1k"]
    print(
        f"\n{REQUESTS} requests logged (exploration {EXPLORATION_RATE}) in"
        f" {logged - started:.0f} s; candidate {shares}; measured shares {measured_shares};"
        f"\nquality: estimated {quality['value']:.4f} [{quality['low']:.4f}, {quality['high']:.4f}]"
        f" (IPS {quality['ips']:.4f}, ESS {quality['effective_rows']:.0f}),"
        f" measured {measured_quality:.4f};"
        f"\ncost per 1k: estimated {cost['value']:.4f} [{cost['low']:.4f}, {cost['high']:.4f}]"
        f" (IPS {cost['ips']:.4f}), measured {measured_cost:.4f};"
        f" {time.monotonic() - started:.0f} s in all"
    )
    assert len(records) == REQUESTS
    targets = dict(part.split("=") for part in TARGET_SHARES.split(","))
    for tier, share in targets.items():
        assert abs(shares[tier] - float(share)) <= 0.02
        assert abs(measured_shares[tier] - float(share)) <= 0.02
    assert abs(quality["value"] - measured_quality) / measured_quality <= TOLERANCE
    assert abs(cost["value"] - measured_cost) / measured_cost <= TOLERANCE
    verdicts = estimate["verdicts"]
    assert verdicts["quality"]["within_target"], verdicts["quality"]["says"]
    assert verdicts["cost_per_1k"]["within_target"], verdicts["cost_per_1k"]["says"]
