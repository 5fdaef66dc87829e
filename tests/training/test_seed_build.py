"""``build_seed`` on raw files the tests write in each source's published format (made-up rows)."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import pytest

from classifiers.errors import DataError, RowError
from training.datasets import read_seed_rows
from training.labels import MATH_LEVEL_GAIN, STRONG_MODEL, WEAK_MODEL, seed_target
from training.seed_build import build_seed


def jsonl(path: Path, *rows: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")


def raw_sources(raw: Path) -> Path:
    jsonl(
        raw / "gsm8k" / "train.jsonl",
        {"question": "Ann has 3 pens and buys 4. How many?", "answer": "3 + 4 = 7\n#### 7"},
    )
    for n, (level, kind) in enumerate([("Level 5", "Algebra"), ("Level ?", "Geometry")]):
        path = raw / "math" / "train" / kind.lower() / f"{n}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        problem = {
            "problem": f"Find $x$ if $x^2 = {n + 4}$.",
            "level": level,
            "type": kind,
            "solution": "...",
        }
        path.write_text(json.dumps(problem), encoding="utf-8")
    (raw / "routellm_mmlu").mkdir()
    (raw / "routellm_mmlu" / "mmlu_anatomy.csv").write_text(
        "prompt,mixtral-8x7b-instruct-v0.1,gpt-4-1106-preview\n"
        '"Which organ pumps blood?\nA. Heart\nB. Lung\nAnswer:",False,True\n'
        '"Which bone is in the arm?\nA. Femur\nB. Humerus\nAnswer:",True,True\n',
        encoding="utf-8",
    )
    jsonl(
        raw / "nq_open" / "NQ-open.train.jsonl",
        {"question": "who wrote the odyssey", "answer": ["Homer"]},
    )
    arc = {"id": "q1", "question": {"stem": "What melts ice?", "choices": []}, "answerKey": "A"}
    jsonl(raw / "arc" / "ARC-Easy-Train.jsonl", arc)
    jsonl(raw / "arc" / "ARC-Challenge-Train.jsonl", arc, arc)
    (raw / "humaneval").mkdir()
    with gzip.open(raw / "humaneval" / "HumanEval.jsonl.gz", "wt", encoding="utf-8") as handle:
        handle.write(json.dumps({"task_id": "HumanEval/0", "prompt": "def add(a, b):\n"}) + "\n")
    jsonl(
        raw / "mbpp" / "mbpp.jsonl",
        {"task_id": 1, "text": "Write a function to add.", "test_list": ["assert add(1, 2) == 3"]},
    )
    return raw


def test_every_supported_source_becomes_seed_rows_with_its_labels(tmp_path: Path) -> None:
    out = tmp_path / "seed.jsonl"
    heard: list[tuple[str, int | None]] = []

    report = build_seed(raw_sources(tmp_path / "raw"), out, on_source=lambda *a: heard.append(a))

    rows = {row.id: row for row in read_seed_rows(out)}
    assert report.rows_by_source == {
        "routellm_mmlu": 2, "gsm8k": 1, "math_hendrycks": 2, "nq_open": 1,
        "arc_easy": 1, "arc_challenge": 2, "humaneval": 1, "mbpp": 1,
    }  # fmt: skip
    assert report.missing == () and len(heard) == 8
    mmlu = rows["routellm_mmlu:0"]
    assert mmlu.domain == "knowledge_mc" and mmlu.prompt.startswith("Which organ pumps blood?")
    assert mmlu.labels == {"subject": "anatomy", "correct": {WEAK_MODEL: False, STRONG_MODEL: True}}
    target = seed_target(mmlu.source, mmlu.domain, mmlu.labels)
    assert (target.gain, target.outcome) == (1.0, 1.0)
    levelled = [r for r in rows.values() if r.source == "math_hendrycks"]
    assert sorted(r.level or 0 for r in levelled) == [0, 5], "'Level ?' keeps no level"
    assert (
        seed_target("math_hendrycks", "competition_math", {"level": 5}).gain == (MATH_LEVEL_GAIN[5])
    )
    assert rows["arc_easy:0"].prompt == "Question:What melts ice?\nAnswer:"
    assert rows["mbpp:0"].prompt == '"""\nWrite a function to add.\nassert add(1, 2) == 3\n"""\n'
    assert rows["humaneval:0"].licence == "MIT (HumanEval)"
    assert rows["nq_open:0"].labels == {"answer": ["Homer"]}


def test_missing_sources_are_reported_and_skipped(tmp_path: Path) -> None:
    raw = tmp_path / "raw"
    jsonl(raw / "gsm8k" / "train.jsonl", {"question": "1 + 1?", "answer": "#### 2"})

    report = build_seed(raw, tmp_path / "seed.jsonl")

    assert report.rows_by_source == {"gsm8k": 1}
    assert "routellm_mmlu" in report.missing and "math" in report.missing


def test_a_malformed_raw_row_names_file_line_and_field(tmp_path: Path) -> None:
    raw = tmp_path / "raw"
    jsonl(raw / "gsm8k" / "train.jsonl", {"question": "ok?"}, {"answer": "#### 2"})

    with pytest.raises(RowError, match=r"train\.jsonl:2: field 'question'"):
        build_seed(raw, tmp_path / "seed.jsonl")
    assert not (tmp_path / "seed.jsonl").exists()


def test_a_results_csv_without_the_models_columns_is_refused(tmp_path: Path) -> None:
    raw = tmp_path / "raw"
    (raw / "routellm_mmlu").mkdir(parents=True)
    (raw / "routellm_mmlu" / "mmlu_law.csv").write_text("prompt,gpt-4-1106-preview\nq,True\n")

    with pytest.raises(RowError, match=r"no column for model 'mixtral-8x7b-instruct-v0\.1'"):
        build_seed(raw, tmp_path / "seed.jsonl")


def test_an_empty_raw_folder_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "raw").mkdir()

    with pytest.raises(DataError, match="none of the sources"):
        build_seed(tmp_path / "raw", tmp_path / "seed.jsonl")
