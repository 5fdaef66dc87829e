from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from classifiers.errors import DataError, RowError
from classifiers.features import text_features
from records import ExportRow, FeedbackEvent, embedding_bytes, encode_embedding
from tests.training.log_fixtures import DIMENSION, START, logged_row, write_export
from training.logs import decode_embedding, observed_outcome, read_logs, require_rows

RNG = np.random.default_rng(0)


def unit(n: int = 0) -> np.ndarray:
    vector = np.random.default_rng(n).normal(size=DIMENSION)
    return vector / np.linalg.norm(vector)


def row(n: int, **overrides: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "embedding": unit(n),
        "features": [0.5] * 10,
        "score": 0.1,
        "tier_index": 0,
        "outcome": True,
    }
    fields.update(overrides)
    return logged_row(n, **fields)


def event(minute: int, **fields: Any) -> FeedbackEvent:
    return FeedbackEvent(time=START + timedelta(minutes=minute), **fields)


# --- one outcome per row -------------------------------------------------------------------


def test_the_latest_verifier_result_beats_outcomes_and_ratings() -> None:
    events = [
        event(3, verifier={"name": "tests", "passed": True}),
        event(1, outcome="failure", rating=-1.0),
        event(2, verifier={"name": "tests", "passed": False}),
        event(4, outcome="failure"),
    ]

    assert observed_outcome(events) is True


def test_explicit_outcomes_vote_and_a_tie_goes_to_the_latest() -> None:
    assert (
        observed_outcome(
            [
                event(1, outcome="failure"),
                event(2, outcome="failure"),
                event(3, outcome="success", rating=1.0),
            ]
        )
        is False
    )
    assert observed_outcome([event(2, outcome="failure"), event(1, outcome="success")]) is False


def test_ratings_count_by_sign_and_a_zero_rating_says_nothing() -> None:
    assert observed_outcome([event(1, rating=0.4), event(2, rating=-0.2), event(3, rating=0.9)])
    assert observed_outcome([event(1, rating=0.0)]) is None
    assert observed_outcome([]) is None


# --- reading an export ----------------------------------------------------------------------


def test_embeddings_round_trip_through_float16() -> None:
    vector = unit(3)

    decoded = decode_embedding(embedding_bytes(vector), DIMENSION)

    assert decoded.dtype == np.float32
    assert np.allclose(decoded, vector, atol=1e-3)


def test_read_logs_keeps_labelled_rows_and_counts_the_others(tmp_path: Path) -> None:
    export = write_export(
        tmp_path / "export.jsonl",
        [
            row(0, outcome=True),
            row(1, outcome=None),  # no feedback: not a negative, just nothing
            row(2, outcome=False, tier_index=2, choice_probability=0.1),
            row(3, outcome=False, status="UpstreamTimeoutError"),
            row(4, outcome=None, feedback=[{"rating": 0.0, "time": START.isoformat()}]),
        ],
    )

    data = read_logs(export, dimension=DIMENSION)

    assert data.labelled.request_ids == ("req-0", "req-2")
    assert data.labelled.success.tolist() == [True, False]
    assert data.labelled.X.shape == (2, DIMENSION + 10)
    assert np.allclose(data.labelled.X[1, :DIMENSION], unit(2), atol=1e-3)
    summary = data.summary
    assert (summary.rows, summary.labelled, summary.without_feedback, summary.not_ok) == (
        5,
        2,
        2,
        1,
    )
    assert {t.index: t.rows for t in summary.tiers} == {0: 3, 2: 1}
    assert summary.first_time is not None and summary.first_time.startswith("2026-11-01T00:00")


def test_missing_features_are_computed_from_the_prompt(tmp_path: Path) -> None:
    prompt = "Prove that $x^2 \\geq 0$ for every real x.\nShow each step."
    export = write_export(tmp_path / "e.jsonl", [row(0, features=None, prompt=prompt)])

    X = read_logs(export, dimension=DIMENSION).labelled.X

    assert np.allclose(X[0, DIMENSION:], text_features(prompt))


def test_a_row_without_features_or_prompt_is_an_error_naming_its_line(tmp_path: Path) -> None:
    export = write_export(tmp_path / "e.jsonl", [row(0), row(1, features=None, prompt=None)])

    with pytest.raises(RowError, match="both null") as caught:
        read_logs(export, dimension=DIMENSION)

    assert caught.value.line == 2
    assert str(export) in caught.value.message


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"embedding": "not base64!"}, "not base64"),
        ({"embedding": encode_embedding(np.zeros(DIMENSION + 1))}, "float16 values take"),
        ({"choice_probability": 0.0}, "field 'choice_probability'"),
        ({"features": [1.0, 2.0]}, "field 'features'.*10"),
        ({"time": "yesterday"}, "field 'time'"),
    ],
)
def test_a_malformed_row_is_a_row_error_that_says_what_is_wrong(
    tmp_path: Path, change: dict[str, Any], problem: str
) -> None:
    export = write_export(tmp_path / "e.jsonl", [{**row(0), **change}])

    with pytest.raises(RowError, match=problem):
        read_logs(export, dimension=DIMENSION)


def test_skip_mode_reports_every_bad_row_and_reads_the_rest(tmp_path: Path) -> None:
    path = tmp_path / "e.jsonl"
    lines = [json.dumps(row(0)), "{not json", json.dumps({**row(2), "tier_index": -1})]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    skipped: list[RowError] = []

    data = read_logs(path, dimension=DIMENSION, on_error="skip", on_skip=skipped.append)

    assert [error.line for error in skipped] == [2, 3]
    assert data.summary.skipped == 2 and len(data.labelled) == 1


def test_a_naive_time_is_read_as_utc() -> None:
    data = {**row(0), "time": "2026-11-01T10:00:00"}

    assert ExportRow.model_validate(data).time.utcoffset() == timedelta(0)


def test_an_export_without_outcomes_cannot_train(tmp_path: Path) -> None:
    export = write_export(tmp_path / "e.jsonl", [row(0, outcome=None), row(1, outcome=None)])
    data = read_logs(export, dimension=DIMENSION)

    with pytest.raises(DataError, match="none of the 2 logged decisions"):
        require_rows(data, export)
