"""training.retrain on a small synthetic world: the time split, promotion and refusals."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from classifiers.artifacts.manifest import read_manifest
from classifiers.artifacts.registry import read_history
from classifiers.artifacts.store import load_artifact, save_artifact
from classifiers.artifacts.versions import list_versions, read_current, write_current
from classifiers.difficulty import DifficultyEstimator
from classifiers.encoder import HashingEncoder
from classifiers.errors import ArtifactError, ArtifactMismatchError, DataError
from classifiers.features import FEATURE_NAMES
from tests.training.log_fixtures import DIMENSION, ENCODER_NAME, World, write_export
from tests.training.seed_fixtures import TIERS
from tests.training.test_train import synthetic_rows, write_rows
from training import gate as gate_module
from training.model_card import CARD_FILE
from training.retrain import retrain
from training.retrain_logs import split_by_time


def world_with_export(
    tmp_path: Path, n: int = 600, seed: int = 0, **traffic: Any
) -> tuple[World, Path, Path]:
    world = World(seed=seed)
    models = tmp_path / "models"
    base = world.fit_base(models)
    export = write_export(tmp_path / "export.jsonl", world.traffic(base, n, **traffic))
    return world, models, export


def test_the_newest_rows_are_held_out_whatever_the_file_order() -> None:
    times = [5.0, 1.0, 9.0, 3.0, 7.0]

    train, held = split_by_time(times, 0.4)

    assert sorted(np.asarray(times)[held].tolist()) == [7.0, 9.0]
    assert sorted(train.tolist() + held.tolist()) == [0, 1, 2, 3, 4]


def test_a_candidate_that_learned_from_logged_outcomes_is_published_and_promoted(
    tmp_path: Path,
) -> None:
    _, models, export = world_with_export(tmp_path)

    result = retrain(export, models, version="cand", tiers=TIERS)

    assert result.promoted, result.gate.reason
    assert read_current(models) == "cand" == result.current
    assert [s.current for s in read_history(models)] == ["cand"]
    loaded = load_artifact(models / "cand", encoder_name=ENCODER_NAME, encoder_dimension=DIMENSION)
    data = loaded.manifest.training_data
    assert data["base_version"] == "base" and data["seed"] is None
    assert data["logs"]["holdout_rows"] == pytest.approx(0.2 * data["logs"]["labelled"], abs=1)
    assert loaded.manifest.metrics["gate"]["passed"] is True
    report = models / "cand" / "report"
    assert {p.name for p in report.iterdir()} >= {"gate.json", "gate_roc.png"}
    card = (models / "cand" / CARD_FILE).read_text(encoding="utf-8")
    assert "## Labels from logged outcomes" in card and "right-censored" in card
    assert "## Promotion gate" in card and result.gate.reason in card
    assert any("no seed data" in note for note in result.gate.notes)


def test_a_candidate_trained_on_shuffled_outcomes_is_published_but_not_promoted(
    tmp_path: Path,
) -> None:
    world = World(seed=0)
    models = tmp_path / "models"
    good = world.fit_base(models, version="noise")
    first = retrain(
        write_export(tmp_path / "a.jsonl", world.traffic(good, 600)), models, version="good"
    )
    assert first.promoted, first.gate.reason
    served = load_artifact(
        models / "good", encoder_name=ENCODER_NAME, encoder_dimension=DIMENSION
    ).estimator
    assert isinstance(served, DifficultyEstimator)
    traffic = world.traffic(served, 2000, exploration=0.5, shuffle_outcomes_before=1600, start=600)

    result = retrain(write_export(tmp_path / "b.jsonl", traffic), models, version="shuffled")

    assert not result.promoted
    assert result.gate.row(gate_module.AUROC).verdict in {"not better", "not reliably better"}
    assert result.promotion == "not promoted: the gate refused the candidate"
    assert read_current(models) == "good"
    assert "shuffled" in list_versions(models)
    assert read_manifest(models / "shuffled").metrics["gate"]["passed"] is False


def test_the_candidate_keeps_the_lexical_estimates_of_its_base(tmp_path: Path) -> None:
    """Logged rows keep no text to refit them on, so they come over from the base unchanged."""
    world = World(seed=0)
    models = tmp_path / "models"
    emb, features = world.prompts(300)
    knowledge = emb[:, 0] > 0
    outcomes = np.where(knowledge, world.rng.integers(-1, 2, size=300), np.nan)
    y = np.column_stack([knowledge, np.nan_to_num(np.maximum(outcomes, 0)), outcomes, outcomes])
    texts = [f"question {i}" + (" EXCEPT" if o == 1 else "") for i, o in enumerate(outcomes)]
    base = DifficultyEstimator(min_group_rows=20, lexical_c=1.0).fit(
        np.hstack([emb, features]), y, texts=texts
    )
    save_artifact(
        models,
        "base",
        base,
        encoder_name=ENCODER_NAME,
        encoder_dimension=DIMENSION,
        feature_names=FEATURE_NAMES,
        training_data={"rows": 300},
        metrics={"estimator": {"class": "DifficultyEstimator", **base.get_params()}},
    )
    write_current(models, "base")
    export = write_export(tmp_path / "export.jsonl", world.traffic(base, 600))

    retrain(export, models, version="cand", tiers=TIERS)

    candidate = load_artifact(
        models / "cand", encoder_name=ENCODER_NAME, encoder_dimension=DIMENSION
    ).estimator
    assert isinstance(candidate, DifficultyEstimator)
    assert set(candidate.lexical_) == set(base.lexical_) == {1}
    probe = ["question 7 EXCEPT", "question 8", "words never seen"]
    np.testing.assert_array_equal(candidate.lexical_[1].gain(probe), base.lexical_[1].gain(probe))


def test_seed_data_trains_beside_the_logs_and_guards_the_promotion(tmp_path: Path) -> None:
    _, models, export = world_with_export(tmp_path)
    seed = write_rows(tmp_path / "seed.jsonl", synthetic_rows(60))

    result = retrain(
        export,
        models,
        seed_data=seed,
        encoder=HashingEncoder(DIMENSION),
        cache_dir=tmp_path / "cache",
        version="cand",
    )

    assert result.seed is not None
    guards = [row for row in result.gate.rows if row.kind == "guard"]
    assert {row.metric for row in guards} >= {"seed:apgr[all]", "seed:spearman_math_level"}
    assert (models / "cand" / "report" / "score_by_domain.png").exists()
    assert read_manifest(models / "cand").training_data["seed"]["rows"] == 180
    assert list((tmp_path / "cache").glob("*.npy")), "seed embeddings are cached"


def test_a_base_that_is_not_current_is_compared_against_but_never_replaced(
    tmp_path: Path,
) -> None:
    world, models, export = world_with_export(tmp_path)
    world.fit_base(models, version="other")  # now CURRENT

    result = retrain(export, models, base_version="base", version="cand")

    assert result.gate.passed and not result.promoted
    assert "CURRENT is 'other', not 'base'" in result.promotion
    assert read_current(models) == "other"


def test_an_interrupted_retrain_leaves_no_version_and_current_untouched(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, models, export = world_with_export(tmp_path)

    def crash(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr("training.retrain.write_retrained_card", crash)
    with pytest.raises(KeyboardInterrupt):
        retrain(export, models, version="cand")

    assert list_versions(models) == ["base"]
    assert not [p for p in models.iterdir() if p.name.startswith(".cand")]
    assert read_current(models) == "base"


def test_logs_embedded_for_another_encoder_are_refused(tmp_path: Path) -> None:
    world, models, export = world_with_export(tmp_path, n=50)
    X = np.hstack(world.prompts(30))
    groups = np.arange(30) % 2
    y = np.column_stack([groups, np.full(30, 0.1), np.full((30, 2), np.nan)])
    save_artifact(
        models,
        "old",
        DifficultyEstimator().fit(X, y),
        encoder_name="another-encoder",
        encoder_dimension=DIMENSION,
        feature_names=FEATURE_NAMES,
        training_data={},
        metrics={},
    )
    lines = export.read_text(encoding="utf-8").splitlines()
    rows = [json.loads(line) | {"classifier_version": "old"} for line in lines]
    export = write_export(tmp_path / "old.jsonl", rows)

    with pytest.raises(ArtifactMismatchError, match="another-encoder"):
        retrain(export, models, version="cand")
    assert "cand" not in list_versions(models)


def test_an_export_without_feedback_is_a_data_error(tmp_path: Path) -> None:
    _, models, export = world_with_export(tmp_path, n=40, feedback_rate=0.0)

    with pytest.raises(DataError, match="none of the 40 logged decisions"):
        retrain(export, models)


def test_a_version_name_in_use_is_refused_before_current_moves(tmp_path: Path) -> None:
    _, models, export = world_with_export(tmp_path)

    with pytest.raises(ArtifactError, match="already exists"):
        retrain(export, models, version="base")
    assert read_current(models) == "base"


def test_a_base_pickled_before_a_parameter_existed_still_retrains(tmp_path: Path) -> None:
    _, models, export = world_with_export(tmp_path)
    old = load_artifact(models / "base", encoder_name=ENCODER_NAME, encoder_dimension=DIMENSION)
    estimator = old.estimator
    assert isinstance(estimator, DifficultyEstimator)
    del estimator.general_group  # as unpickled from a version that predates the parameter
    params = {"class": "DifficultyEstimator", "gate_c": 0.5, "min_group_rows": 20}
    save_artifact(
        models,
        "old",
        estimator,
        encoder_name=ENCODER_NAME,
        encoder_dimension=DIMENSION,
        feature_names=FEATURE_NAMES,
        training_data={},
        metrics={"estimator": params},
    )

    result = retrain(export, models, base_version="old", version="cand", promote=False)

    recorded = result.manifest.metrics["estimator"]
    assert recorded["gate_c"] == 0.5
    assert recorded["general_group"] == DifficultyEstimator().general_group
