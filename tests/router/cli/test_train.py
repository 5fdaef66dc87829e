"""``router train`` and ``router eval`` end to end, with a stand-in encoder and a real fit."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from classifiers.artifacts.versions import read_current
from classifiers.encoder import HashingEncoder
from router.cli.deps import CliDeps
from router.cli.main import app
from router.service.model_store import load_scorer
from router.settings import Settings
from tests.training.test_train import synthetic_rows, write_rows
from tests.training.user_rows import user_rows, write_user_file

runner = CliRunner()
ENCODER = HashingEncoder(64)
REPO = Path(__file__).resolve().parents[3]


def deps_for(tmp_path: Path) -> CliDeps:
    (tmp_path / "models").mkdir(exist_ok=True)
    settings = Settings(models_dir=tmp_path / "models", data_dir=tmp_path / "var")
    return CliDeps(
        settings=lambda: settings,
        encoder=lambda _: ENCODER,
        scorer=lambda s: load_scorer(s, ENCODER),
    )


def test_train_publishes_a_version_and_makes_it_current(tmp_path: Path) -> None:
    (tmp_path / "models").mkdir()
    data = write_rows(tmp_path / "seed.jsonl", synthetic_rows())

    result = runner.invoke(
        app, ["train", "--data", str(data), "--version", "v1"], obj=deps_for(tmp_path)
    )

    assert result.exit_code == 0, result.output
    assert read_current(tmp_path / "models") == "v1"
    assert "spearman_math_level" in result.stdout


def test_eval_reports_json_and_writes_plots(tmp_path: Path) -> None:
    (tmp_path / "models").mkdir()
    data = write_rows(tmp_path / "seed.jsonl", synthetic_rows())
    deps = deps_for(tmp_path)
    assert runner.invoke(app, ["train", "--data", str(data)], obj=deps).exit_code == 0

    result = runner.invoke(
        app, ["eval", "--data", str(data), "--json", "--report", str(tmp_path / "rep")], obj=deps
    )

    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["n_rows"] == 120
    names = {metric["name"] for metric in report["metrics"]}
    assert {"apgr[all]", "spearman_math_level", "auroc_weak_model_fails"} <= names
    assert (tmp_path / "rep" / "quality_vs_strong_share.png").exists()
    by_source = {entry["source"]: entry for entry in report["tiers_by_source"]}
    assert set(by_source) == {"clinc150", "math_hendrycks", "routellm_mmlu"}
    for entry in by_source.values():
        assert entry["n"] == 40
        assert list(entry["shares"]) == ["fast", "standard", "reasoning", "deep"]
        assert sum(entry["shares"].values()) == 1.0


def test_eval_shows_which_tier_each_source_gets(tmp_path: Path) -> None:
    (tmp_path / "models").mkdir()
    data = write_rows(tmp_path / "seed.jsonl", synthetic_rows())
    deps = deps_for(tmp_path)
    assert runner.invoke(app, ["train", "--data", str(data)], obj=deps).exit_code == 0

    result = runner.invoke(app, ["eval", "--data", str(data)], obj=deps)

    assert result.exit_code == 0, result.output
    assert "Tier the policy picks, by source" in result.stdout
    assert "share_to_cheapest[everyday_chat]" in result.stdout


def test_eval_reports_a_malformed_line_and_keeps_going_when_asked(tmp_path: Path) -> None:
    (tmp_path / "models").mkdir()
    data = write_rows(tmp_path / "seed.jsonl", synthetic_rows())
    deps = deps_for(tmp_path)
    assert runner.invoke(app, ["train", "--data", str(data)], obj=deps).exit_code == 0
    with data.open("a", encoding="utf-8") as handle:
        handle.write("{not json\n")

    stopped = runner.invoke(app, ["eval", "--data", str(data)], obj=deps)
    skipped = runner.invoke(app, ["eval", "--data", str(data), "--on-error", "skip"], obj=deps)

    assert stopped.exit_code == 2 and ":121:" in stopped.stderr
    assert skipped.exit_code == 1 and ":121:" in skipped.stderr


def test_train_on_a_non_utf8_file_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "models").mkdir()
    data = tmp_path / "bad.jsonl"
    data.write_bytes(b'{"id": "a", "prompt": "caf\xe9"}\n')

    result = runner.invoke(app, ["train", "--data", str(data)], obj=deps_for(tmp_path))

    assert result.exit_code == 2
    assert "UTF-8" in result.stderr and str(data) in result.stderr
    assert not any((tmp_path / "models").iterdir())


def test_route_refuses_a_tampered_artifact(tmp_path: Path) -> None:
    (tmp_path / "models").mkdir()
    data = write_rows(tmp_path / "seed.jsonl", synthetic_rows())
    deps = deps_for(tmp_path)
    assert (
        runner.invoke(app, ["train", "--data", str(data), "--version", "v1"], obj=deps).exit_code
        == 0
    )
    artifact = tmp_path / "models" / "v1" / "estimator.joblib"
    blob = bytearray(artifact.read_bytes())
    blob[len(blob) // 2] ^= 0xFF
    artifact.write_bytes(bytes(blob))

    result = runner.invoke(app, ["route", "hello"], obj=deps)

    assert result.exit_code == 2
    assert "estimator.joblib" in result.stderr and "will not be loaded" in result.stderr


def test_train_needs_exactly_one_of_data_and_logs(tmp_path: Path) -> None:
    data = write_rows(tmp_path / "seed.jsonl", synthetic_rows(2))

    neither = runner.invoke(app, ["train"], obj=deps_for(tmp_path))
    both = runner.invoke(
        app, ["train", "--data", str(data), "--logs", str(data)], obj=deps_for(tmp_path)
    )

    assert neither.exit_code == 2 and both.exit_code == 2
    assert "exactly one of --data" in neither.stderr


def test_embed_caches_the_seed_embeddings_once(tmp_path: Path) -> None:
    data = write_rows(tmp_path / "seed.jsonl", synthetic_rows(3))

    first = runner.invoke(app, ["embed", "--data", str(data)], obj=deps_for(tmp_path))

    assert first.exit_code == 0, first.output
    cached = list((tmp_path / "var" / "embeddings").glob("*.npy"))
    assert len(cached) == 1 and cached[0].stat().st_size > 9 * 64 * 4


def test_train_on_a_users_own_rows_warns_of_thin_experts(tmp_path: Path) -> None:
    rows = list(user_rows(300))
    for row in rows[:12]:
        row.update(domain="code", weak=False, strong=True)
    data = write_user_file(tmp_path / "mine.jsonl", rows)

    result = runner.invoke(
        app, ["train", "--data", str(data), "--version", "mine"], obj=deps_for(tmp_path)
    )

    assert result.exit_code == 0, result.output
    assert read_current(tmp_path / "models") == "mine"
    assert (tmp_path / "models" / "mine" / "MODEL_CARD.md").exists()
    assert "spearman_outcome_gain[user]" in result.stdout
    assert "warning: expert 'code':" in result.stderr and "fewer than 20" in result.stderr


def test_train_names_the_line_and_field_of_a_malformed_user_row(tmp_path: Path) -> None:
    rows = list(user_rows(40))
    rows[16] = {"prompt": "What is 7 * 8?", "weak": True}
    data = write_user_file(tmp_path / "mine.jsonl", rows)

    result = runner.invoke(app, ["train", "--data", str(data)], obj=deps_for(tmp_path))

    assert result.exit_code == 2
    assert f"error: {data}:17: field 'strong' is missing" in result.stderr
    assert not any((tmp_path / "models").iterdir())


@pytest.mark.slow
def test_router_train_on_a_fresh_checkout_with_the_real_encoder(tmp_path: Path) -> None:
    """As a new user runs it: the console script's module, no ../shared, models in a tmp dir."""
    data = write_user_file(tmp_path / "mine.jsonl", user_rows(300))
    env = {
        **os.environ,
        "ROUTER_MODELS_DIR": str(tmp_path / "models"),
        "ROUTER_DATA_DIR": str(tmp_path / "var"),
        "PYTHONPATH": str(REPO),
    }
    (tmp_path / "models").mkdir()

    done = subprocess.run(
        [sys.executable, "-m", "router.cli", "train", "--data", str(data), "--version", "mine"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )

    assert done.returncode == 0, done.stderr
    card = (tmp_path / "models" / "mine" / "MODEL_CARD.md").read_text(encoding="utf-8")
    assert "spearman_outcome_gain[user]" in card
    assert (tmp_path / "models" / "CURRENT").read_text(encoding="utf-8").strip() == "mine"
