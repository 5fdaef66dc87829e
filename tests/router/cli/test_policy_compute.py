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


def test_validate_refuses_a_window_capped_twice(write_policy: WritePolicy) -> None:
    caps = [{"window": "day", "usd": 5}, {"window": "day", "usd": 3}]
    path = write_policy(small_policy_data() | {"spend_caps": caps})

    result = runner.invoke(app, ["policy", "validate", str(path)])

    assert result.exit_code == 1
    assert result.stderr.startswith(f"error: {path}: spend_caps: a window is capped twice")


def test_validate_refuses_min_tokens_without_budget_tokens_above_it(
    write_policy: WritePolicy,
) -> None:
    data = small_policy_data()
    data["tiers"][2]["budget"] = {"budget_tokens": 500, "min_tokens": 800, "max_tokens": 16000}
    path = write_policy(data)

    result = runner.invoke(app, ["policy", "validate", str(path)])

    assert result.exit_code == 1
    assert "tier 'deep': budget: min_tokens needs budget_tokens at or above it" in result.stderr
