"""``router models ...`` and ``router train --logs``, with real fits on the synthetic log world."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from classifiers.artifacts.versions import read_current
from router.cli.deps import CliDeps
from router.cli.models import (
    EXIT_ERROR,
    EXIT_NOT_PROMOTED,
    EXIT_OK,
    models_app,
    train_from_logs,
)
from router.settings import SHIPPED_POLICY, Settings
from tests.training.log_fixtures import World, write_export

runner = CliRunner()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    (tmp_path / "models").mkdir()
    return Settings(
        models_dir=tmp_path / "models", policy_path=SHIPPED_POLICY, data_dir=tmp_path / "var"
    )


@pytest.fixture
def world(settings: Settings) -> World:
    world = World(seed=0)
    world.fit_base(settings.models_dir)
    return world


def invoke(settings: Settings, args: list[str]) -> Result:
    deps = CliDeps(settings=lambda: settings)
    return runner.invoke(models_app, args, obj=deps, env={"COLUMNS": "200"})


def export(world: World, settings: Settings, path: Path, **traffic: Any) -> Path:
    from classifiers.artifacts.store import load_artifact
    from classifiers.difficulty import DifficultyEstimator
    from tests.training.log_fixtures import DIMENSION, ENCODER_NAME

    current = read_current(settings.models_dir)
    base = load_artifact(
        settings.models_dir / current, encoder_name=ENCODER_NAME, encoder_dimension=DIMENSION
    ).estimator
    assert isinstance(base, DifficultyEstimator)
    return write_export(path, world.traffic(base, 600, **traffic))


def test_train_from_logs_promotes_a_better_candidate_and_exits_0(
    tmp_path: Path, settings: Settings, world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    logs = export(world, settings, tmp_path / "export.jsonl")

    code = train_from_logs(logs, None, None, "cand", True, settings=settings)

    assert code == EXIT_OK
    result = json.loads(capsys.readouterr().out)
    assert result["promoted"] is True and result["gate"]["passed"] is True
    assert read_current(settings.models_dir) == "cand"


def test_train_from_logs_exits_1_when_the_gate_refuses(
    tmp_path: Path, settings: Settings, world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    logs = export(world, settings, tmp_path / "export.jsonl", shuffle_outcomes_before=480)

    code = train_from_logs(logs, None, None, "cand", False, settings=settings)

    assert code == EXIT_NOT_PROMOTED
    printed = capsys.readouterr().out
    assert "Promotion gate: cand vs base" in printed
    assert "not promoted" in printed
    assert read_current(settings.models_dir) == "base"


def test_train_from_logs_reports_a_bad_export_and_exits_2(
    tmp_path: Path, settings: Settings, world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"request_id": "r1"}\n', encoding="utf-8")

    code = train_from_logs(bad, None, None, None, False, settings=settings)

    assert code == EXIT_ERROR
    assert capsys.readouterr().err.startswith(f"error: {bad}:1: field 'time'")


def test_list_show_promote_and_rollback(tmp_path: Path, settings: Settings, world: World) -> None:
    logs = export(world, settings, tmp_path / "export.jsonl")
    assert train_from_logs(logs, None, None, "cand", True, settings=settings) == EXIT_OK

    listed = invoke(settings, ["list"])
    assert listed.exit_code == 0, listed.output
    assert "cand" in listed.stdout and "passed" in listed.stdout
    as_json = json.loads(invoke(settings, ["list", "--json"]).stdout)
    assert [(v["version"], v["current"]) for v in as_json] == [("base", False), ("cand", True)]

    shown = invoke(settings, ["show", "cand"])
    assert shown.exit_code == 0, shown.output
    assert "auroc_cheap_tier_fails" in shown.stdout and "retrain: base -> cand" in shown.stdout
    details = json.loads(invoke(settings, ["show", "cand", "--json"]).stdout)
    assert details["gate"]["passed"] is True and details["current"] is True

    rolled = invoke(settings, ["rollback"])
    assert rolled.exit_code == 0, rolled.output
    assert "CURRENT: cand -> base" in rolled.stdout
    assert read_current(settings.models_dir) == "base"

    promoted = invoke(settings, ["promote", "cand"])
    assert promoted.exit_code == 0, promoted.output
    assert read_current(settings.models_dir) == "cand"
    assert "already CURRENT" in invoke(settings, ["promote", "cand"]).stdout


def test_registry_errors_exit_2_with_the_reason(settings: Settings, world: World) -> None:
    unknown = invoke(settings, ["promote", "v9"])
    nothing = invoke(settings, ["rollback"])

    assert unknown.exit_code == EXIT_ERROR
    assert "no version 'v9' (available: base)" in unknown.stderr
    assert nothing.exit_code == EXIT_ERROR
    assert "nothing to roll back to" in nothing.stderr
