"""``router policy simulate`` and ``router policy tune`` on synthetic logs and labelled files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner, Result

from router.cli.deps import CliDeps
from router.cli.main import app
from router.decision.policy_file import load_policy
from tests.router.conftest import FakeScorer, WritePolicy, small_policy_data
from tests.router.ops.conftest import explored_log, write_export

PRICES = ({"input_per_mtok": 0.1, "output_per_mtok": 0.4},
          {"input_per_mtok": 1.0, "output_per_mtok": 4.0},
          {"input_per_mtok": 5.0, "output_per_mtok": 25.0})  # fmt: skip


@pytest.fixture
def priced_policy(write_policy: WritePolicy) -> Path:
    data = small_policy_data()
    for tier, price in zip(data["tiers"], PRICES, strict=True):
        tier["price"] = price
    return write_policy(data, "current.yaml")


@pytest.fixture
def export(tmp_path: Path, priced_policy: Path) -> Path:
    logged = explored_log(load_policy(priced_policy, env={}), 4000, rate=0.3)
    return write_export(tmp_path / "export.jsonl", logged, feedback_every=2)


def run(cli_deps: CliDeps, *args: str) -> Result:
    return CliRunner().invoke(app, list(args), obj=cli_deps)


def test_simulate_prints_both_policies_side_by_side_with_verdicts(
    cli_deps: CliDeps, priced_policy: Path, export: Path, tmp_path: Path
) -> None:
    plot = tmp_path / "curve.png"
    result = run(
        cli_deps, "policy", "simulate", str(priced_policy), "--against", str(priced_policy),
        "--logs", str(export), "--plot", str(plot),
    )  # fmt: skip

    assert result.exit_code == 0, result.output
    assert "current test-1" in result.output and "candidate test-1" in result.output
    assert "share fast" in result.output and "cost per 1k requests" in result.output
    assert "candidate expected quality (off-policy): 95% interval within" in result.output
    assert plot.read_bytes().startswith(b"\x89PNG")


def test_simulate_json_holds_estimates_intervals_and_effective_sample_sizes(
    cli_deps: CliDeps, priced_policy: Path, export: Path, write_policy: WritePolicy
) -> None:
    data = small_policy_data()
    data["version"] = "candidate-2"
    data["tiers"][0]["band"], data["tiers"][1]["band"] = [0.0, 0.4], [0.4, 0.7]
    for tier, price in zip(data["tiers"], PRICES, strict=True):
        tier["price"] = price
    candidate = write_policy(data, "candidate.yaml")

    result = run(
        cli_deps, "policy", "simulate", str(candidate), "--against", str(priced_policy),
        "--logs", str(export), "--json",
    )  # fmt: skip

    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    quality = report["candidate"]["quality"]
    assert quality["low"] <= quality["value"] <= quality["high"]
    assert 0 < quality["effective_rows"] < quality["rows"] == 2000
    assert report["requests"] == 4000 and report["with_outcome"] == 2000
    assert report["exploration_rate"] == pytest.approx(0.3)
    assert report["candidate"]["shares"]["fast"] == pytest.approx(0.4, abs=0.03)
    assert report["current"]["version"] == "test-1"
    assert set(report["verdicts"]) == {"quality", "cost_per_1k", "reasoning_tokens_per_1k"}


def test_tune_writes_a_valid_policy_whose_simulated_shares_meet_the_targets(
    cli_deps: CliDeps, priced_policy: Path, export: Path, tmp_path: Path
) -> None:
    out = tmp_path / "tuned.yaml"
    result = run(
        cli_deps, "policy", "tune", "--share", "fast=0.5,mid=0.35,deep=0.15", "--logs",
        str(export), "--against", str(priced_policy), "--out", str(out), "--json",
    )  # fmt: skip

    assert result.exit_code == 0, result.output
    shares = json.loads(result.stdout)["figures"]["shares"]
    assert shares == pytest.approx({"fast": 0.5, "mid": 0.35, "deep": 0.15}, abs=0.02)
    tuned = load_policy(out, env={})
    assert tuned.version == "test-1-tuned"
    assert "simulated figures" in out.read_text(encoding="utf-8")
    assert yaml.safe_load(out.read_text())["tiers"][0]["price"] == PRICES[0]


def test_simulate_on_a_labelled_file_scores_it_and_uses_recorded_outcomes(
    cli_deps: CliDeps, fake_scorer: FakeScorer, priced_policy: Path, tmp_path: Path
) -> None:
    data = tmp_path / "labelled.jsonl"
    rows = [
        {"id": f"mmlu:{i}", "source": "routellm_mmlu", "domain": "knowledge_mc",
         "prompt": f"question {i}", "labels": {"correct": {
             "mistralai/Mixtral-8x7B-Instruct-v0.1": i % 2 == 0, "gpt-4-1106-preview": True}}}
        for i in range(40)
    ]  # fmt: skip
    data.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    fake_scorer.scores = {f"question {i}": 0.9 for i in range(10)}

    result = run(
        cli_deps, "policy", "simulate", str(priced_policy), "--against", str(priced_policy),
        "--data", str(data), "--json",
    )  # fmt: skip

    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["requests"] == 40
    assert report["candidate"]["shares"] == {"fast": 0.75, "mid": 0.0, "deep": 0.25}
    assert report["candidate"]["quality"]["value"] == pytest.approx(0.25 + 0.75 * 0.5, abs=0.01)
    assert any("upper bound" in note for note in report["notes"])


def test_simulate_needs_exactly_one_source(cli_deps: CliDeps, priced_policy: Path) -> None:
    result = run(cli_deps, "policy", "simulate", str(priced_policy))

    assert result.exit_code == 2
    assert "exactly one of --logs" in result.output


def test_a_malformed_export_row_is_named_by_line(
    cli_deps: CliDeps, priced_policy: Path, export: Path
) -> None:
    with export.open("a", encoding="utf-8") as handle:
        handle.write(json.dumps({"request_id": "x", "score": 2}) + "\n")

    result = run(cli_deps, "policy", "simulate", str(priced_policy), "--logs", str(export))

    assert result.exit_code == 2
    assert "export.jsonl:4001: field" in result.output


def test_rescore_replaces_the_stored_scores_with_the_current_classifiers(
    cli_deps: CliDeps, fake_scorer: FakeScorer, priced_policy: Path, export: Path
) -> None:
    fake_scorer.default = 0.95

    result = run(
        cli_deps, "policy", "simulate", str(priced_policy), "--logs", str(export), "--rescore",
        "--json",
    )  # fmt: skip

    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["candidate"]["shares"] == {"fast": 0, "mid": 0, "deep": 1}
