from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, replace
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
from classifiers.features import FEATURE_NAMES, build_features, text_features
from classifiers.onnx_encoder import ONNX_NAME
from router.decision.policy_file import load_policy
from router.settings import SHIPPED_POLICY, Settings
from tests.training.log_fixtures import (
    DIMENSION,
    ENCODER_NAME,
    World,
    explore,
    logged_row,
    tier_for,
    write_export,
)
from tests.training.test_train import synthetic_rows, write_rows
from training import gate as gate_module
from training.datasets import SeedRow, file_sha256, read_seed_rows
from training.labels import STRONG_MODEL, WEAK_MODEL
from training.model_card import CARD_FILE
from training.retrain import TierLayout, retrain
from training.retrain_logs import split_by_time
from training.retrain_seed import load_seed
from training.train import embedding_cache_file, is_validation

SEED_DATA = Path(__file__).resolve().parents[3] / "shared" / "data" / "train.jsonl"
POLICY = load_policy(SHIPPED_POLICY, env={})
TIERS = TierLayout.from_bands([tier.band for tier in POLICY.tiers])


def world_with_export(
    tmp_path: Path, n: int = 600, seed: int = 0, **traffic: Any
) -> tuple[World, Path, Path]:
    world = World(seed=seed)
    models = tmp_path / "models"
    base = world.fit_base(models)
    export = write_export(tmp_path / "export.jsonl", world.traffic(base, n, **traffic))
    return world, models, export


# --- the time split ------------------------------------------------------------------------


def test_the_newest_rows_are_held_out_whatever_the_file_order() -> None:
    times = [5.0, 1.0, 9.0, 3.0, 7.0]

    train, held = split_by_time(times, 0.4)

    assert sorted(np.asarray(times)[held].tolist()) == [7.0, 9.0]
    assert sorted(train.tolist() + held.tolist()) == [0, 1, 2, 3, 4]


# --- retrain on the synthetic world ----------------------------------------------------------


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


# --- the closed loop on real seed data -------------------------------------------------------


@dataclass(frozen=True)
class RealSeed:
    rows: tuple[SeedRow, ...]
    embeddings: dict[str, np.ndarray]


class LookupEncoder:
    """MiniLM (int8 ONNX) embeddings looked up from the cache ``router embed`` writes."""

    def __init__(self, embeddings: dict[str, np.ndarray]) -> None:
        self.embeddings = embeddings

    @property
    def name(self) -> str:
        return ONNX_NAME

    @property
    def dimension(self) -> int:
        return 384

    @property
    def files_sha256(self) -> str | None:
        return None

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        return np.stack([self.embeddings[text] for text in texts]).astype(np.float32)


@pytest.fixture(scope="module")
def real_seed() -> RealSeed:
    if not SEED_DATA.exists():
        pytest.skip(f"seed data not at {SEED_DATA}")
    cache = embedding_cache_file(
        Settings().data_dir / "embeddings", ONNX_NAME, file_sha256(SEED_DATA)
    )
    rows = tuple(read_seed_rows(SEED_DATA))
    if not cache.exists() or np.load(cache, mmap_mode="r").shape != (len(rows), 384):
        pytest.skip(
            f"no cached MiniLM (int8 ONNX) embeddings of the seed data at {cache}: run `router"
            f" embed --data {SEED_DATA}` once (`make test` does; embedding the seed file takes"
            " minutes, too long for a test)"
        )
    matrix = np.load(cache)
    return RealSeed(rows, {row.prompt: matrix[i] for i, row in enumerate(rows)})


def without_outcomes(row: SeedRow) -> SeedRow:
    return replace(row, labels={k: v for k, v in row.labels.items() if k != "correct"})


def without_subject(row: SeedRow) -> SeedRow:
    """Outcomes without topics: no topic model, whose fit takes most of a minute."""
    return replace(row, labels={k: v for k, v in row.labels.items() if k != "subject"})


def seed_line(row: SeedRow) -> dict[str, Any]:
    return {
        "id": row.id,
        "source": row.source,
        "domain": row.domain,
        "prompt": row.prompt,
        "labels": dict(row.labels),
        "licence": row.licence,
    }


def mmlu_world(
    real: RealSeed, tmp_path: Path, *, base_sees_mmlu_outcomes: bool
) -> tuple[Path, Path, list[SeedRow], np.ndarray]:
    """A seed file, a published base fitted on its training share, and 2,000 MMLU prompts.

    The seed file: 3,000 rows of other domains, 500 MMLU training rows (their outcomes dropped
    unless ``base_sees_mmlu_outcomes``) and every MMLU validation row *with* its outcomes, which
    only ever serve evaluation (``is_validation`` keeps them out of every fit).
    """
    rng = np.random.default_rng(0)
    mmlu = [r for r in real.rows if r.source == "routellm_mmlu"]
    mmlu_train = [mmlu[i] for i in rng.permutation(len(mmlu)) if not is_validation(mmlu[i].id)]
    mmlu_val = [r for r in mmlu if is_validation(r.id)]
    others = [r for r in real.rows if r.source != "routellm_mmlu"]
    others = [others[i] for i in rng.choice(len(others), size=3000, replace=False)]
    seed_mmlu = [
        without_subject(r) if base_sees_mmlu_outcomes else without_outcomes(r)
        for r in mmlu_train[:500]
    ]
    seed_file = write_rows(
        tmp_path / "seed.jsonl", (seed_line(r) for r in [*others, *seed_mmlu, *mmlu_val])
    )
    split = load_seed(seed_file, LookupEncoder(real.embeddings))
    base = DifficultyEstimator().fit(split.X_train, split.y_train)
    models = tmp_path / "models"
    save_artifact(
        models,
        "seed",
        base,
        encoder_name=ONNX_NAME,
        encoder_dimension=384,
        feature_names=FEATURE_NAMES,
        training_data=split.summary,
        metrics={"estimator": {"class": "DifficultyEstimator", **base.get_params()}},
    )
    write_current(models, "seed")
    traffic = mmlu_train[500:2500]
    embeddings = np.stack([real.embeddings[r.prompt] for r in traffic])
    prompts = [r.prompt for r in traffic]
    return models, seed_file, traffic, base.predict(build_features(prompts, embeddings))


def mmlu_export(
    path: Path,
    real: RealSeed,
    traffic: Sequence[SeedRow],
    scores: np.ndarray,
    *,
    shuffle_before: int = 0,
) -> Path:
    """Decisions routed by the base's scores through the shipped policy, 30% explored; the
    outcome at the cheap tier is Mixtral's, above it GPT-4's (RouteLLM's recorded outcomes)."""
    rng = np.random.default_rng(1)
    decisions = []
    for row, score in zip(traffic, scores, strict=True):
        tier, probability = explore(rng, tier_for(float(score)), 0.3)
        model = WEAK_MODEL if tier == 0 else STRONG_MODEL
        outcome = bool(row.model_correct[model]) if rng.random() < 0.85 else None
        decisions.append((row, float(score), tier, probability, outcome))
    if shuffle_before:
        head = [d[4] for d in decisions[:shuffle_before]]
        rng.shuffle(head)
        decisions[:shuffle_before] = [(*d[:4], o) for d, o in zip(decisions, head, strict=False)]
    return write_export(
        path,
        (
            logged_row(
                n,
                embedding=real.embeddings[row.prompt],
                features=None if n % 2 else text_features(row.prompt),
                prompt=row.prompt,
                score=score,
                tier_index=tier,
                outcome=outcome,
                choice_probability=probability,
                classifier_version="seed",
            )
            for n, (row, score, tier, probability, outcome) in enumerate(decisions)
        ),
    )


@pytest.mark.slow
def test_closed_loop_logged_outcomes_teach_a_domain_the_base_never_saw_labelled(
    tmp_path: Path, real_seed: RealSeed
) -> None:
    models, seed_file, traffic, scores = mmlu_world(
        real_seed, tmp_path, base_sees_mmlu_outcomes=False
    )
    export = mmlu_export(tmp_path / "export.jsonl", real_seed, traffic, scores)

    result = retrain(
        export,
        models,
        seed_data=seed_file,
        encoder=LookupEncoder(real_seed.embeddings),
        tiers=TIERS,
        version="with-logs",
    )

    domain = result.gate.row("seed:auroc_weak_model_fails")
    print(
        f"\nMMLU validation rows (n={domain.n}), AUROC for 'the weak model fails':"
        f" before {domain.base:.3f}, after {domain.candidate:.3f};"
        f" held-out logs: {result.gate.row(gate_module.AUROC).base:.3f}"
        f" -> {result.gate.row(gate_module.AUROC).candidate:.3f}\n{result.gate.reason}"
    )
    assert result.promoted, result.gate.reason
    assert read_current(models) == "with-logs"
    assert domain.base is not None and domain.candidate is not None
    assert domain.candidate > domain.base + 0.03


@pytest.mark.slow
def test_the_gate_refuses_a_candidate_trained_on_shuffled_real_outcomes(
    tmp_path: Path, real_seed: RealSeed
) -> None:
    models, seed_file, traffic, scores = mmlu_world(
        real_seed, tmp_path, base_sees_mmlu_outcomes=True
    )
    export = mmlu_export(tmp_path / "e.jsonl", real_seed, traffic, scores, shuffle_before=1600)

    result = retrain(
        export,
        models,
        seed_data=seed_file,
        encoder=LookupEncoder(real_seed.embeddings),
        tiers=TIERS,
        version="shuffled",
    )

    print(f"\n{result.gate.reason}")
    assert not result.promoted
    assert result.gate.row(gate_module.AUROC).verdict in {"not better", "not reliably better"}
    assert read_current(models) == "seed"


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
