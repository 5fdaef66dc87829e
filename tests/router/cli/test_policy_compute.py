"""router policy validate on the compute fields: verifiers and cascades."""

from __future__ import annotations

from typer.testing import CliRunner

from router.cli.main import app
from tests.router.conftest import WritePolicy, small_policy_data

runner = CliRunner()


def test_validate_shows_a_cascade_and_its_verifier(write_policy: WritePolicy) -> None:
    data = small_policy_data() | {"verifiers": {"total": {"kind": "regex", "pattern": "Total"}}}
    data["tiers"][0]["strategy"] = {
        "samples": 1,
        "select": "first",
        "verifier": "total",
        "cascade": True,
    }
    data["tiers"][1]["strategy"] = {"samples": 3, "select": "verifier", "verifier": "final_answer"}

    result = runner.invoke(
        app, ["policy", "validate", str(write_policy(data))], env={"COLUMNS": "200"}
    )

    assert result.exit_code == 0, result.output
    assert "1 x first + verifier(total) cascade" in result.stdout
    assert "3 x verifier(final_answer)" in result.stdout


def test_validate_refuses_a_verifier_that_does_not_exist(write_policy: WritePolicy) -> None:
    data = small_policy_data()
    data["tiers"][0]["strategy"] = {"samples": 1, "verifier": "tests", "cascade": True}
    path = write_policy(data)

    result = runner.invoke(app, ["policy", "validate", str(path)])

    assert result.exit_code == 1
    assert result.stderr.startswith(
        f"error: {path}: tier 'fast': strategy.verifier: no verifier named 'tests'"
    )
