"""router logs stats: per tier and model, read from the store the settings select."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from records import Budget, Feedback, Forecast, Step, Strategy
from router.cli.deps import CliDeps
from router.cli.main import app
from router.log.store import open_store
from router.settings import Settings
from tests.router.conftest import RECORD_START, decision_record

runner = CliRunner()
ONE = Strategy(samples=1, select="first")


def forecast(p50: float, p90: float) -> Forecast:
    return Forecast(
        source="log",
        observations=50,
        prompt_tokens=10,
        output_tokens_p50=100,
        output_tokens_p90=200,
        cost_usd_p50=p50,
        cost_usd_p90=p90,
    )


@pytest.fixture
def settings(tmp_path: Path, policy_path: Path) -> Settings:
    config = Settings(models_dir=tmp_path, policy_path=policy_path, data_dir=tmp_path / "data")
    low = Budget(effort="low", max_tokens=8192)
    records = [
        decision_record(
            n,
            tier="mid",
            model="openai/o3",
            strategy=ONE,
            budget=low,
            control="openai_effort",
            reasoning_tokens=1000 * n,
            cost_usd=0.001 * n,
            upstream_ms=100.0 * n,
            forecast=forecast(0.002, 0.004),
        )
        for n in range(1, 5)
    ]
    steps = (
        Step(
            tier="fast",
            model="openai/fast",
            completion_tokens=5,
            cost_usd=0.0001,
            upstream_ms=10.0,
            verifier="v",
            passed=False,
        ),
        Step(
            tier="mid",
            model="openai/o3",
            completion_tokens=50,
            cost_usd=0.003,
            upstream_ms=300.0,
            verifier="v",
            passed=True,
        ),
    )
    records.append(
        decision_record(
            9, tier="fast", model="openai/fast", strategy=ONE, steps=steps, cost_usd=0.0031
        )
    )
    store = open_store(config)
    store.append_decisions(records)
    for n, outcome in ((1, "success"), (2, "failure"), (9, "success")):
        store.append_feedback(
            Feedback(
                id=f"fb_{n}",
                request_id=f"req_{n}",
                time=RECORD_START + timedelta(minutes=n),
                outcome=outcome,
            )
        )
    store.close()
    return config


def test_stats_report_each_tier_and_model(settings: Settings) -> None:
    result = runner.invoke(app, ["logs", "stats", "--json"], obj=CliDeps(settings=lambda: settings))

    assert result.exit_code == 0, result.output
    rows = {(r["tier"], r["model"]): r for r in map(json.loads, result.stdout.splitlines())}
    mid = rows[("mid", "openai/o3")]
    assert (mid["requests"], mid["answered"]) == (5, 5)
    assert mid["reasoning_tokens_p50"] == 2000  # 0 (the cascade step), 1000 .. 4000
    assert mid["success_rate"] == pytest.approx(2 / 3)  # req_1, req_2, and req_9's last step
    assert (mid["obedience_checked"], mid["obedience_rate"]) == (
        4,
        0.75,
    )  # limit 3072: 4000 overshoots
    assert mid["forecasts"] == 4
    assert mid["forecast_error_median"] == pytest.approx(
        (1 / 3 + 1 / 2) / 2
    )  # errors 1, 0, 1/3, 1/2
    assert mid["within_p90_share"] == 1.0
    fast = rows[("fast", "openai/fast")]
    assert (fast["requests"], fast["cost_usd_total"], fast["success_rate"]) == (1, 0.0001, None)


def test_stats_table_shows_the_columns(settings: Settings) -> None:
    result = runner.invoke(
        app, ["logs", "stats"], obj=CliDeps(settings=lambda: settings), env={"COLUMNS": "250"}
    )

    assert result.exit_code == 0, result.output
    assert "forecast error p50" in result.stdout
    assert "openai/o3" in result.stdout
