from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from classifiers.artifacts.store import load_artifact
from classifiers.artifacts.versions import resolve_version
from classifiers.difficulty import DifficultyEstimator
from classifiers.encoder import HashingEncoder
from classifiers.errors import DataError, RowError
from tests.training.user_rows import user_rows, write_user_file
from training.labels import DOMAIN_PRIOR, outcome_gain, seed_target
from training.model_card import CARD_FILE
from training.train import train_seed
from training.user_data import (
    UserRow,
    detect_format,
    read_training_file,
    read_user_rows,
    training_rows,
)


def lines(tmp_path: Path, *objects: Any) -> Path:
    path = tmp_path / "mine.jsonl"
    path.write_text("".join(json.dumps(o) + "\n" for o in objects), encoding="utf-8")
    return path


def test_the_three_kinds_of_row_are_read(tmp_path: Path) -> None:
    path = lines(
        tmp_path,
        {"prompt": "Prove it.", "weak": False, "strong": True, "id": "a", "domain": "proofs"},
        {"prompt": "Summarise this.", "weak": 0.4, "strong": 0.9},
        {"prompt": "hi", "domain": "smalltalk_simple"},
    )

    rows = list(read_user_rows(path))

    assert rows[0] == UserRow("a", "Prove it.", 1, "proofs", False, True)
    assert (rows[1].id, rows[1].weak, rows[1].strong) == ("line-2", 0.4, 0.9)
    assert not rows[2].has_outcome and rows[2].domain == "smalltalk_simple"


@pytest.mark.parametrize(
    ("obj", "field", "problem"),
    [
        ({"weak": True, "strong": True}, "prompt", "is missing"),
        ({"prompt": "  "}, "prompt", "is empty"),
        ({"prompt": 3}, "prompt", "must be a string, got int"),
        ({"prompt": "x", "weak": True}, "strong", "is missing"),
        ({"prompt": "x", "strong": 0.5}, "weak", "is missing"),
        ({"prompt": "x", "weak": 1.5, "strong": 1}, "weak", "score from 0 to 1, got 1.5"),
        ({"prompt": "x", "weak": "yes", "strong": 1}, "weak", "got 'yes'"),
        ({"prompt": "x", "weak": 0, "strong": "no"}, "strong", "got 'no'"),
        ({"prompt": "x", "domain": 7}, "domain", "must be a string"),
        ({"prompt": "x", "id": ["a"]}, "id", "must be a string"),
        ({"prompt": "x", "stronng": True}, "stronng", "unknown field"),
    ],
)
def test_a_malformed_row_names_its_line_and_field(
    tmp_path: Path, obj: dict[str, Any], field: str, problem: str
) -> None:
    path = lines(tmp_path, {"prompt": "fine", "weak": True, "strong": True}, obj)

    with pytest.raises(RowError) as caught:
        list(read_user_rows(path))

    assert caught.value.line == 2
    assert f"'{field}'" in caught.value.problem and problem in caught.value.problem
    assert str(caught.value).startswith(f"{path}:2: ")


def test_a_repeated_id_is_reported_on_the_repeat(tmp_path: Path) -> None:
    path = lines(tmp_path, {"prompt": "a", "id": "x"}, {"prompt": "b", "id": "x"})

    with pytest.raises(RowError, match=r":2: field 'id': 'x' repeats line 1"):
        list(read_user_rows(path))


def test_the_format_is_told_by_the_first_row(tmp_path: Path) -> None:
    seed = {"id": "s:1", "source": "gsm8k", "domain": "grade_school_math", "prompt": "p"}
    assert detect_format(lines(tmp_path, {**seed, "labels": {}})) == "seed"
    assert detect_format(lines(tmp_path, {"prompt": "p"})) == "user"
    (tmp_path / "empty.jsonl").write_text("\n", encoding="utf-8")
    with pytest.raises(DataError, match="no rows"):
        detect_format(tmp_path / "empty.jsonl")


def test_outcome_rows_are_labelled_by_the_gain_definition() -> None:
    rows = [
        UserRow("a", "p", 1, None, False, True),
        UserRow("b", "p", 2, "grade_school_math", 0.25, 0.8),
        UserRow("c", "p", 3, None, True, False),
    ]
    seed_rows = training_rows(rows).rows
    targets = [seed_target(r.source, r.domain, r.labels) for r in seed_rows]

    assert [t.gain for t in targets] == [1.0, outcome_gain(0.25, 0.8), 0.0]
    assert outcome_gain(0.25, 0.8) == pytest.approx(0.6)
    assert targets[0].outcome == 1.0 and targets[2].outcome == -1.0
    assert np.isnan(targets[1].outcome), "a graded pair has no outcome class"


def test_prompt_only_rows_take_their_seed_domain_prior_or_are_left_out() -> None:
    rows = [
        UserRow("a", "hello", 1, "smalltalk_simple"),
        UserRow("b", "a tagged prompt", 2, "my-app"),
        UserRow("c", "untagged", 3),
    ]

    data = training_rows(rows)

    assert [r.id for r in data.rows] == ["a"]
    kept = data.rows[0]
    assert (
        seed_target(kept.source, kept.domain, kept.labels).gain
        == (DOMAIN_PRIOR["smalltalk_simple"])
    )
    assert data.unlabelled_rows == 2 and "2 prompt-only rows" in data.notes[0]


def test_a_file_with_nothing_to_learn_from_is_refused(tmp_path: Path) -> None:
    path = lines(tmp_path, {"prompt": "a"}, {"prompt": "b", "domain": "mine"})

    with pytest.raises(DataError, match="nothing to train on"):
        read_training_file(path)


def test_training_on_300_user_rows_publishes_a_version_with_a_card(tmp_path: Path) -> None:
    data = write_user_file(tmp_path / "mine.jsonl", user_rows(300))
    encoder = HashingEncoder(64)

    trained = train_seed(
        data, tmp_path / "models", encoder, cache_dir=tmp_path / "cache", version="mine-1"
    )

    loaded = load_artifact(
        resolve_version(tmp_path / "models", "mine-1"),
        encoder_name=encoder.name,
        encoder_dimension=64,
    )
    assert loaded.manifest.training_data["format"] == "user"
    assert loaded.manifest.training_data["rows"] == 300
    spearman = trained.report.metric("spearman_outcome_gain[user]")
    assert spearman.n > 20 and spearman.model is not None and spearman.model > 0.2
    card = (trained.version_dir / CARD_FILE).read_text(encoding="utf-8")
    assert "spearman_outcome_gain[user]" in card and "outcome_gain" in card


def test_training_says_which_experts_had_too_few_rows(tmp_path: Path) -> None:
    rows = list(user_rows(300))
    for row in rows[:30]:  # a handful of maths rows with true/false outcomes
        row.update(domain="competition_math", weak=False, strong=True)
    data = write_user_file(tmp_path / "mine.jsonl", rows)

    trained = train_seed(
        data,
        tmp_path / "models",
        HashingEncoder(32),
        cache_dir=tmp_path / "cache",
        version="v",
        estimator=DifficultyEstimator(min_group_rows=50),
    )

    math_notes = [note for note in trained.notes if note.startswith("expert 'math':")]
    assert math_notes and "fewer than 50" in math_notes[0]
    card = (trained.version_dir / CARD_FILE).read_text(encoding="utf-8")
    assert "expert 'math'" in card


def test_too_few_rows_to_train_is_a_clear_error(tmp_path: Path) -> None:
    data = write_user_file(tmp_path / "mine.jsonl", list(user_rows(12)))

    with pytest.raises(DataError, match="too few rows to train"):
        train_seed(data, tmp_path / "models", HashingEncoder(8), cache_dir=tmp_path / "c")
    assert not (tmp_path / "models").exists() or not any((tmp_path / "models").iterdir())


def test_rows_without_any_domain_train_and_load(tmp_path: Path) -> None:
    rows = [row for row in user_rows(120) if "weak" in row]  # outcome rows, no domains
    data = write_user_file(tmp_path / "mine.jsonl", rows)
    encoder = HashingEncoder(32)

    train_seed(data, tmp_path / "models", encoder, cache_dir=tmp_path / "c", version="v")

    loaded = load_artifact(
        resolve_version(tmp_path / "models", "v"), encoder_name=encoder.name, encoder_dimension=32
    )
    assert isinstance(loaded.estimator, DifficultyEstimator)
    scores = loaded.estimator.predict(np.zeros((2, loaded.estimator.n_features_in_)))
    assert scores.shape == (2,) and np.all((scores >= 0) & (scores <= 1))
