from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner, Result

from router.cli.deps import CliDeps
from router.cli.main import app
from router.settings import SHIPPED_POLICY
from tests.router.conftest import WritePolicy, small_policy_data

runner = CliRunner()


def invoke(args: list[str], deps: CliDeps | None = None) -> Result:
    return runner.invoke(app, args, obj=deps, env={"COLUMNS": "160"})


def test_policy_validate_shows_the_tiers_of_a_valid_file() -> None:
    result = invoke(["policy", "validate", str(SHIPPED_POLICY)])

    assert result.exit_code == 0, result.output
    for name in ("fast", "standard", "reasoning", "deep", "[0.65, 1]", "3 x majority_vote"):
        assert name in result.stdout
    assert "2026-12-06.1" in result.stdout
    assert "anthropic_thinking (by id)" in result.stdout
    assert result.stderr == ""


def test_policy_validate_shows_how_each_budget_is_sent(write_policy: WritePolicy) -> None:
    data = small_policy_data()
    data["tiers"][0]["reasoning"] = "chat_template"
    path = write_policy(data)

    result = invoke(["policy", "validate", str(path)])

    assert result.exit_code == 0, result.output
    rows = {line.split()[0]: line for line in result.stdout.splitlines() if line.strip()}
    assert "chat_template" in rows["fast"] and "(by id)" not in rows["fast"]
    assert "none (by id)" in rows["mid"]


def test_policy_validate_warns_of_a_budget_the_model_cannot_take(
    write_policy: WritePolicy,
) -> None:
    path = write_policy(small_policy_data())

    result = invoke(["policy", "validate", str(path)])

    assert result.exit_code == 0, result.output
    assert result.stderr.startswith(f"warning: {path}: tier 'mid': budget low/-/4096 asks for")
    assert "only max_tokens is sent" in result.stderr


def test_policy_validate_reports_an_invalid_file_and_exits_1(write_policy: WritePolicy) -> None:
    data = small_policy_data()
    data["tiers"][1]["band"] = [0.35, 0.7]
    path = write_policy(data)

    result = invoke(["policy", "validate", str(path)])

    assert result.exit_code == 1
    assert result.stderr.startswith(f"error: {path}: tier 'mid': band: scores in [0.3, 0.35)")
    assert result.stdout == ""


def test_policy_validate_of_a_missing_file_is_a_usage_error(tmp_path: Path) -> None:
    result = invoke(["policy", "validate", str(tmp_path / "absent.yaml")])

    assert result.exit_code == 2
    assert "does not exist" in result.output
