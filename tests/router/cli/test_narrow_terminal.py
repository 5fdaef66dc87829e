"""At 80 columns, as a new user's terminal: every version name and model id whole."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from classifiers.artifacts.registry import list_models
from router.decision.policy_file import load_policy

REPO = Path(__file__).resolve().parents[3]
LOCAL_RECIPE = REPO / "examples" / "local-upstream.yaml"
DEFAULT_POLICY = REPO / "router" / "policies" / "default.yaml"
LOCAL_UPSTREAM = "http://127.0.0.1:8000/v1"


def run_at_80(*args: str) -> str:
    env = {
        **os.environ,
        "COLUMNS": "80",
        "PYTHONPATH": str(REPO),
        "ROUTER_LOCAL_UPSTREAM": LOCAL_UPSTREAM,
    }
    done = subprocess.run(
        [sys.executable, "-m", "router.cli", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert all(len(line.rstrip()) <= 80 for line in done.stdout.splitlines()), done.stdout
    return done.stdout


def test_models_list_shows_every_version_name_whole() -> None:
    output = run_at_80("models", "list")

    versions = [summary.version for summary in list_models(REPO / "models")]
    assert len(versions) >= 2
    for version in versions:
        assert version in output, f"{version} cut in:\n{output}"


def test_policy_validate_shows_every_model_id_whole(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ROUTER_LOCAL_UPSTREAM", LOCAL_UPSTREAM)
    for path in (LOCAL_RECIPE, DEFAULT_POLICY):
        output = run_at_80("policy", "validate", str(path))

        policy = load_policy(path)
        for tier in policy.tiers:
            for model in (tier.model, *tier.fallbacks):
                assert model in output, f"{model} cut in:\n{output}"
            if tier.api_base:
                assert tier.api_base in output


def test_usage_lines_name_arguments_and_values_by_real_metavars() -> None:
    from typer.testing import CliRunner

    from router.cli.main import app

    validate = CliRunner().invoke(app, ["policy", "validate", "--help"]).stdout
    train = CliRunner().invoke(app, ["train", "--help"]).stdout

    assert "[OPTIONS] FILE\n" in validate
    assert "--data FILE" in train and "--cv-folds K" in train
    assert "<bool>" not in train and "{FILE}" not in validate
