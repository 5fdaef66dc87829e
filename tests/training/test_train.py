from __future__ import annotations

import json
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from classifiers.artifacts.store import load_artifact
from classifiers.artifacts.versions import resolve_version
from classifiers.difficulty import GROUPS, DifficultyEstimator
from classifiers.encoder import Encoder, HashingEncoder
from training.label_tables import STRONG_MODEL, WEAK_MODEL
from training.model_card import CARD_FILE
from training.train import embed, is_validation, split_of, train_seed

SEED_DATA = Path(__file__).resolve().parents[3] / "shared" / "data" / "train.jsonl"


def synthetic_rows(n_per_kind: int = 40) -> Iterator[dict[str, Any]]:
    rng = random.Random(0)
    for i in range(n_per_kind):
        yield {
            "id": f"clinc150:{i}",
            "source": "clinc150",
            "domain": "smalltalk_simple",
            "prompt": f"hello there friend number {i}",
            "labels": {},
            "licence": "CC-BY-3.0",
        }
        level = 1 + i % 5
        yield {
            "id": f"math:{i}",
            "source": "math_hendrycks",
            "domain": "competition_math",
            "prompt": f"Find all $x$ with $x^{level + 2} = {i}$ " + "and prove it " * level,
            "labels": {"level": level, "type": "Algebra"},
            "licence": "MIT",
        }
        weak, strong = rng.random() < 0.6, rng.random() < 0.8
        yield {
            "id": f"mmlu:{i}",
            "source": "routellm_mmlu",
            "domain": "knowledge_mc",
            "prompt": f"Which organ filters blood? option {i}\nA. liver\nB. kidney\nAnswer:",
            "labels": {
                "subject": ["anatomy", "virology"][i % 2],
                "correct": {WEAK_MODEL: weak, STRONG_MODEL: strong},
            },
            "licence": "MIT",
        }


def write_rows(path: Path, rows: Iterator[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


def test_the_three_splits_are_stable_and_near_their_shares() -> None:
    ids = [f"src:{i}" for i in range(4000)]
    splits = [split_of(i) for i in ids]
    shares = {name: splits.count(name) / len(ids) for name in ("fit", "select", "report")}

    assert [split_of(i) for i in ids[:50]] == splits[:50]
    assert 0.12 < shares["report"] < 0.18 and 0.12 < shares["select"] < 0.18
    assert [is_validation(i) for i in ids] == [s != "fit" for s in splits]


def test_embed_reuses_a_matching_cache_and_ignores_a_stale_one(tmp_path: Path) -> None:
    encoder = HashingEncoder(16)
    cache = tmp_path / "cache.npy"
    first = embed(encoder, ["a", "b"], cache_file=cache)
    np.save(cache, np.zeros((2, 16), dtype=np.float32))

    assert np.array_equal(embed(encoder, ["a", "b"], cache_file=cache), np.zeros((2, 16)))
    assert np.allclose(embed(encoder, ["a", "b", "c"], cache_file=cache)[:2], first)


def test_train_seed_publishes_a_loadable_version_with_card_and_report(tmp_path: Path) -> None:
    data = write_rows(tmp_path / "seed.jsonl", synthetic_rows())
    encoder = HashingEncoder(64)

    trained = train_seed(
        data,
        tmp_path / "models",
        encoder,
        cache_dir=tmp_path / "cache",
        version="v1",
        estimator=DifficultyEstimator(min_group_rows=5, lexical_c=1.0),
        cv_folds=3,
    )

    loaded = load_artifact(
        resolve_version(tmp_path / "models", "v1"), encoder_name=encoder.name, encoder_dimension=64
    )
    assert loaded.manifest.training_data["rows"] == 120
    assert loaded.manifest.metrics["validation"]["n_rows"] == trained.report.n_rows
    assert trained.select is not None
    assert loaded.manifest.metrics["select"]["n_rows"] == trained.select.n_rows
    provenance = loaded.manifest.training_data["label_provenance"]
    assert sum(provenance.values()) == loaded.manifest.training_data["train_rows"]
    assert provenance["observed"] > 0 and provenance["table"] > 0
    assert loaded.manifest.metrics["cross_validation"]["folds"] == 3
    assert isinstance(loaded.estimator, DifficultyEstimator)
    assert set(loaded.estimator.lexical_) == {GROUPS.index("knowledge")}, "fitted on the texts"
    card = (trained.version_dir / CARD_FILE).read_text(encoding="utf-8")
    assert "## Labels" in card and "spearman_math_level" in card
    assert "Label provenance" in card and "report/reliability.png" in card
    assert "TF-IDF vocabulary" in card, "a lexical model stores n-grams: the card says so"
    for plot in ("score_by_domain.png", "reliability.png"):
        assert (trained.version_dir / "report" / plot).read_bytes()[:4] == b"\x89PNG"


def test_a_card_without_a_lexical_model_claims_no_vocabulary(tmp_path: Path) -> None:
    data = write_rows(tmp_path / "seed.jsonl", synthetic_rows())

    trained = train_seed(
        data,
        tmp_path / "models",
        HashingEncoder(64),
        cache_dir=tmp_path / "cache",
        version="v1",
        estimator=DifficultyEstimator(min_group_rows=5),
    )

    card = (trained.version_dir / CARD_FILE).read_text(encoding="utf-8")
    assert "lexical_c=None" in card
    assert "TF-IDF" not in card


def test_a_failed_training_leaves_no_version(tmp_path: Path) -> None:
    data = write_rows(tmp_path / "seed.jsonl", synthetic_rows(10))

    with pytest.raises(ValueError):
        train_seed(
            data,
            tmp_path / "models",
            HashingEncoder(8),
            cache_dir=tmp_path / "cache",
            version="v1",
            estimator=DifficultyEstimator(gate_c=-1.0, min_group_rows=5),
        )
    assert not (tmp_path / "models" / "v1").exists()


@pytest.mark.slow
@pytest.mark.skipif(not SEED_DATA.exists(), reason=f"seed data not at {SEED_DATA}")
def test_real_encoder_on_a_real_sample_orders_easy_below_olympiad_maths(tmp_path: Path) -> None:
    lines = SEED_DATA.read_text(encoding="utf-8").splitlines()
    sample = [line for i, line in enumerate(lines) if i % 30 == 0]
    data = tmp_path / "sample.jsonl"
    data.write_text("\n".join(sample) + "\n", encoding="utf-8")

    trained = train_seed(
        data,
        tmp_path / "models",
        Encoder.load(cache_size=0),
        cache_dir=tmp_path / "cache",
        version="sample",
    )

    separation = trained.report.metric("auroc_easy_domains_vs_math_level4+")
    assert separation.model is not None and separation.model > 0.95
    level = trained.report.metric("spearman_math_level")
    assert level.model is not None and level.length is not None and level.model > 0.2
