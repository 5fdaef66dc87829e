"""``router data build`` end to end on raw files the test writes."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from router.cli.main import app
from tests.training.test_seed_build import jsonl, raw_sources
from training.datasets import read_seed_rows

runner = CliRunner()


def test_data_build_writes_the_seed_file_and_names_each_source(tmp_path: Path) -> None:
    raw = raw_sources(tmp_path / "raw")
    out = tmp_path / "seed.jsonl"

    result = runner.invoke(app, ["data", "build", "--raw", str(raw), "--out", str(out)])

    assert result.exit_code == 0, result.output
    assert "wrote 11 rows from 8 sources" in result.stdout
    assert "routellm_mmlu: 2 rows" in result.stderr
    assert len(list(read_seed_rows(out))) == 11


def test_data_build_names_a_malformed_raw_row(tmp_path: Path) -> None:
    raw = tmp_path / "raw"
    jsonl(raw / "nq_open" / "NQ-open.train.jsonl", {"answer": ["x"]})

    result = runner.invoke(
        app, ["data", "build", "--raw", str(raw), "--out", str(tmp_path / "s.jsonl")]
    )

    assert result.exit_code == 2
    assert "NQ-open.train.jsonl:1: field 'question'" in result.stderr
    assert "gsm8k: not found, skipped" in result.stderr
