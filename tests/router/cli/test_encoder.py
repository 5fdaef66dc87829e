"""``router encoder export``: refuses to overwrite unasked; rebuilds the shipped export exactly."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from router.cli.main import app

runner = CliRunner()


def test_an_existing_directory_is_not_overwritten_without_replace(tmp_path: Path) -> None:
    target = tmp_path / "encoder"
    target.mkdir()
    result = runner.invoke(app, ["encoder", "export", "--out", str(target)])
    assert result.exit_code == 2
    assert "exists; rebuild over it with --replace" in result.stderr
    assert list(target.iterdir()) == []


def test_help_says_what_it_builds() -> None:
    result = runner.invoke(app, ["encoder", "export", "--help"])
    assert result.exit_code == 0 and "int8" in result.stdout


@pytest.mark.slow
def test_check_rebuilds_the_shipped_export_byte_for_byte() -> None:
    result = runner.invoke(app, ["encoder", "export", "--check"])
    assert result.exit_code == 0, result.output
    assert "identical: 2 files rebuilt with the same sha256" in result.stdout
