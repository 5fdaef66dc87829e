from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

from classifiers.errors import DataError, RowError
from training.datasets import SeedRow, read_jsonl, read_seed_rows


def seed_line(n: int, prompt: str = "What is 2 + 2?", **labels: Any) -> str:
    row = {"id": f"t:{n}", "source": "t", "domain": "easy_arith", "prompt": prompt}
    return json.dumps({**row, "labels": labels})


def write(tmp_path: Path, *lines: str) -> Path:
    path = tmp_path / "rows.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_read_jsonl_numbers_lines_from_one_and_skips_blank_ones(tmp_path: Path) -> None:
    path = write(tmp_path, '{"a": 1}', "", "   ", '{"a": 2}')

    assert list(read_jsonl(path)) == [(1, {"a": 1}), (4, {"a": 2})]


def test_malformed_line_stops_with_its_line_number(tmp_path: Path) -> None:
    path = write(tmp_path, '{"a": 1}', '{"a": 2}', '{"a": ', '{"a": 4}')

    with pytest.raises(RowError) as caught:
        list(read_jsonl(path))

    assert (caught.value.path, caught.value.line) == (path, 3)
    assert f"{path}:3: not valid JSON" in str(caught.value)


def test_skip_mode_reports_each_bad_line_and_keeps_going(tmp_path: Path) -> None:
    path = write(tmp_path, '{"a": 1}', "not json", "[1, 2]", '{"a": 4}')
    skipped: list[RowError] = []

    rows = list(read_jsonl(path, on_error="skip", on_skip=skipped.append))

    assert rows == [(1, {"a": 1}), (4, {"a": 4})]
    assert [(e.line, e.problem.split(":")[0]) for e in skipped] == [
        (2, "not valid JSON"),
        (3, "expected a JSON object, got list"),
    ]


def test_skip_mode_needs_somewhere_to_report(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="on_skip"):
        read_jsonl(write(tmp_path, "{}"), on_error="skip")


def test_non_utf8_file_is_refused_naming_line_and_column(tmp_path: Path) -> None:
    data = b'{"a": 1}\n{"b": "caf\xe9"}\n'
    path = tmp_path / "latin1.jsonl"
    path.write_bytes(data)

    with pytest.raises(DataError) as caught:
        list(read_jsonl(path, on_error="skip", on_skip=lambda error: None))

    assert not isinstance(caught.value, RowError)
    assert str(caught.value) == (
        f"{path}:2: not UTF-8 (byte 0xe9 at column 11); re-encode the file as UTF-8"
    )


def test_a_leading_byte_order_mark_is_ignored(tmp_path: Path) -> None:
    path = tmp_path / "bom.jsonl"
    path.write_bytes(b'\xef\xbb\xbf{"a": 1}\n')

    assert list(read_jsonl(path)) == [(1, {"a": 1})]


def test_missing_file_is_a_data_error(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="cannot read"):
        list(read_jsonl(tmp_path / "absent.jsonl"))


def test_seed_rows_are_parsed_with_their_labels(tmp_path: Path) -> None:
    outcomes = {"gpt-4-1106-preview": 1.0, "gpt-3.5-turbo-1106": math.nan, "claude-v1": 0.0}
    path = write(tmp_path, seed_line(1, level=3), seed_line(2, rb11_correct=outcomes))

    first, second = read_seed_rows(path)

    assert (first.id, first.source, first.domain, first.level) == ("t:1", "t", "easy_arith", 3)
    assert second.level is None
    assert second.rb11_correct == {"gpt-4-1106-preview": 1.0, "claude-v1": 0.0}


@pytest.mark.parametrize("prompt", ["", "  \n\t "])
def test_empty_prompt_is_a_row_error(tmp_path: Path, prompt: str) -> None:
    path = write(tmp_path, seed_line(1), seed_line(2, prompt=prompt))

    with pytest.raises(RowError, match=r":2: field 'prompt' is empty"):
        list(read_seed_rows(path))


@pytest.mark.parametrize(
    ("obj", "problem"),
    [
        ({"id": "x", "source": "s", "domain": "d"}, "missing field 'prompt'"),
        ({"id": 1, "source": "s", "domain": "d", "prompt": "p"}, "field 'id' must be a string"),
        ({"id": "x", "source": "s", "domain": "d", "prompt": "p", "labels": []}, "'labels'"),
        (
            {"id": "x", "source": "s", "domain": "d", "prompt": "p", "labels": {"level": 6}},
            "labels.level",
        ),
        (
            {
                "id": "x",
                "source": "s",
                "domain": "d",
                "prompt": "p",
                "labels": {"correct": {"m": 1}},
            },
            "labels.correct",
        ),
        (
            {
                "id": "x",
                "source": "s",
                "domain": "d",
                "prompt": "p",
                "labels": {"rb11_correct": {"m": 0.5}},
            },
            "labels.rb11_correct",
        ),
    ],
)
def test_malformed_seed_rows_are_named(obj: dict[str, Any], problem: str) -> None:
    with pytest.raises(RowError, match=problem):
        SeedRow.parse(obj, path="rows.jsonl", line=7)


def test_a_repeated_id_is_a_row_error_on_the_repeat(tmp_path: Path) -> None:
    path = write(tmp_path, seed_line(1), seed_line(2), seed_line(1))

    with pytest.raises(RowError, match=r":3: duplicate id 't:1' \(first on line 1\)"):
        list(read_seed_rows(path))


def test_seed_rows_skip_mode_keeps_the_good_rows(tmp_path: Path) -> None:
    path = write(tmp_path, seed_line(1), seed_line(2, prompt=""), "{oops", seed_line(4))
    skipped: list[RowError] = []

    rows = list(read_seed_rows(path, on_error="skip", on_skip=skipped.append))

    assert [row.id for row in rows] == ["t:1", "t:4"]
    assert [error.line for error in skipped] == [2, 3]
