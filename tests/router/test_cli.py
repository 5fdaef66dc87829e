from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from router.cli import CliDeps, app
from router.records import Decision
from router.settings import SHIPPED_POLICY, Settings
from tests.router.conftest import FakeScorer, WritePolicy, small_policy_data

runner = CliRunner()


def invoke(args: list[str], deps: CliDeps | None = None) -> Result:
    return runner.invoke(app, args, obj=deps, env={"COLUMNS": "160"})


def write_jsonl(path: Path, lines: list[str]) -> Path:
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def no_scorer(_: Settings) -> FakeScorer:
    raise AssertionError("the scorer should not be loaded")


# --- policy validate -----------------------------------------------------------------------


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


# --- route ---------------------------------------------------------------------------------


def test_route_shows_the_decision(cli_deps: CliDeps, fake_scorer: FakeScorer) -> None:
    fake_scorer.scores = {"Prove it.": 0.8}

    result = invoke(["route", "Prove it."], cli_deps)

    assert result.exit_code == 0, result.output
    for shown in ("0.800", "deep  [0.7, 1]", "anthropic/deep-model", "high/8000/16000", "fake-1"):
        assert shown in result.stdout
    assert "score 0.800 in band [0.7, 1] of tier 'deep'" in result.stdout


def test_route_json_prints_the_decision(cli_deps: CliDeps, fake_scorer: FakeScorer) -> None:
    fake_scorer.scores = {"hi": 0.05}

    result = invoke(["route", "hi", "--json"], cli_deps)

    assert result.exit_code == 0, result.output
    decision = Decision.model_validate_json(result.stdout)
    assert (decision.tier, decision.model, decision.policy_version) == (
        "fast",
        "openai/fast-model",
        "test-1",
    )


def test_route_uses_the_policy_option(
    cli_deps: CliDeps, write_policy: WritePolicy, fake_scorer: FakeScorer
) -> None:
    data = small_policy_data() | {"version": "other-policy"}
    path = write_policy(data, "other.yaml")

    result = invoke(["route", "hi", "--json", "--policy", str(path)], cli_deps)

    assert json.loads(result.stdout)["policy_version"] == "other-policy"


@pytest.mark.parametrize("text", ["", "   "])
def test_route_of_an_empty_prompt_exits_2_without_loading_the_scorer(
    cli_deps: CliDeps, text: str
) -> None:
    deps = CliDeps(settings=cli_deps.settings, scorer=no_scorer)

    result = invoke(["route", text], deps)

    assert result.exit_code == 2
    assert result.stderr == "error: text is empty: there is nothing to score\n"


def test_route_with_an_invalid_policy_exits_2(cli_deps: CliDeps, write_policy: WritePolicy) -> None:
    path = write_policy({"version": "v", "tiers": []}, "empty.yaml")

    result = invoke(["route", "hi", "--policy", str(path)], cli_deps)

    assert result.exit_code == 2
    assert result.stderr.startswith(f"error: {path}: tiers: no tiers")


def test_unusable_settings_are_reported_by_variable_name(tmp_path: Path) -> None:
    deps = CliDeps(settings=lambda: Settings(models_dir=tmp_path / "absent"), scorer=no_scorer)

    result = invoke(["route", "hi"], deps)

    assert result.exit_code == 2
    assert result.stderr.startswith("error: settings: ROUTER_MODELS_DIR: ")
    assert "absent does not exist" in result.stderr


# --- score ---------------------------------------------------------------------------------


def test_score_writes_id_score_tier_and_model_per_row(
    cli_deps: CliDeps, fake_scorer: FakeScorer, tmp_path: Path
) -> None:
    fake_scorer.scores = {"easy": 0.1, "medium": 0.5, "hard": 0.95}
    source = write_jsonl(
        tmp_path / "in.jsonl",
        [
            '{"id": "a", "prompt": "easy"}',
            "",
            '{"id": 7, "prompt": "medium", "extra": true}',
            '{"prompt": "hard"}',
        ],
    )
    target = tmp_path / "out.jsonl"

    result = invoke(["score", "--input", str(source), "--output", str(target)], cli_deps)

    assert result.exit_code == 0, result.output
    assert read_jsonl(target) == [
        {"id": "a", "score": 0.1, "tier": "fast", "model": "openai/fast-model"},
        {"id": 7, "score": 0.5, "tier": "mid", "model": "openai/mid-model"},
        {"id": 4, "score": 0.95, "tier": "deep", "model": "anthropic/deep-model"},
    ]
    assert f"scored 3 of 3 rows into {target}" in result.stdout


def test_score_sends_rows_to_the_scorer_in_batches(
    cli_deps: CliDeps, fake_scorer: FakeScorer, tmp_path: Path
) -> None:
    lines = [json.dumps({"id": i, "prompt": f"p{i}"}) for i in range(5)]
    source = write_jsonl(tmp_path / "in.jsonl", lines)

    args = ["score", "--input", str(source), "--output", str(tmp_path / "out.jsonl")]
    result = invoke([*args, "--batch-size", "2"], cli_deps)

    assert result.exit_code == 0, result.output
    assert [len(call) for call in fake_scorer.calls] == [2, 2, 1]


MALFORMED = [
    '{"id": 1, "prompt": "fine"}',
    '{"id": 2, "prompt": ',
    '["not", "an", "object"]',
    '{"id": 4}',
    '{"id": 5, "prompt": "  "}',
    '{"id": {"nested": 1}, "prompt": "x"}',
    '{"id": 7, "prompt": "also fine"}',
]


def test_score_skip_mode_reports_each_bad_line_and_exits_1(
    cli_deps: CliDeps, tmp_path: Path
) -> None:
    source = write_jsonl(tmp_path / "in.jsonl", MALFORMED)
    target = tmp_path / "out.jsonl"

    args = ["score", "--input", str(source), "--output", str(target), "--on-error", "skip"]
    result = invoke(args, cli_deps)

    assert result.exit_code == 1, result.output
    assert [row["id"] for row in read_jsonl(target)] == [1, 7]
    for line, problem in [
        (2, "not valid JSON"),
        (3, "expected a JSON object, got list"),
        (4, "missing field 'prompt'"),
        (5, "field 'prompt' is empty"),
        (6, "field 'id' must be a string or an integer"),
    ]:
        assert f"skipped {source}:{line}: {problem}" in result.stderr
    assert "skipped 5 malformed rows" in result.stderr


def test_score_stop_mode_names_the_bad_line_and_writes_nothing(
    cli_deps: CliDeps, tmp_path: Path
) -> None:
    source = write_jsonl(tmp_path / "in.jsonl", MALFORMED)
    target = tmp_path / "out.jsonl"

    result = invoke(["score", "--input", str(source), "--output", str(target)], cli_deps)

    assert result.exit_code == 2
    assert result.stderr == f"error: {source}:2: not valid JSON: Expecting value (column 21)\n"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["in.jsonl", "models", "policy.yaml"]


def test_score_keeps_an_existing_output_when_it_stops(cli_deps: CliDeps, tmp_path: Path) -> None:
    source = write_jsonl(tmp_path / "in.jsonl", MALFORMED)
    target = tmp_path / "out.jsonl"
    target.write_text("previous results\n", encoding="utf-8")

    result = invoke(["score", "--input", str(source), "--output", str(target)], cli_deps)

    assert result.exit_code == 2
    assert target.read_text(encoding="utf-8") == "previous results\n"


def test_score_refuses_a_file_that_is_not_utf8(cli_deps: CliDeps, tmp_path: Path) -> None:
    source = tmp_path / "in.jsonl"
    source.write_bytes(b'{"prompt": "fine"}\n{"prompt": "caf\xe9"}\n')

    result = invoke(
        ["score", "--input", str(source), "--output", str(tmp_path / "out.jsonl")],
        CliDeps(settings=cli_deps.settings, scorer=no_scorer),
    )

    assert result.exit_code == 2
    assert result.stderr.startswith(f"error: {source}:2: not UTF-8 (byte 0xe9 at column 16)")
    assert not (tmp_path / "out.jsonl").exists()


def test_score_accepts_a_utf8_byte_order_mark(cli_deps: CliDeps, tmp_path: Path) -> None:
    source = tmp_path / "in.jsonl"
    source.write_bytes('\ufeff{"id": "x", "prompt": "caf\u00e9"}\n'.encode())
    target = tmp_path / "out.jsonl"

    result = invoke(["score", "--input", str(source), "--output", str(target)], cli_deps)

    assert result.exit_code == 0, result.output
    assert read_jsonl(target)[0]["id"] == "x"


def test_score_refuses_to_overwrite_its_input(cli_deps: CliDeps, tmp_path: Path) -> None:
    source = write_jsonl(tmp_path / "in.jsonl", ['{"prompt": "x"}'])

    result = invoke(["score", "--input", str(source), "--output", str(source)], cli_deps)

    assert result.exit_code == 2
    assert "the output would replace the input" in result.stderr
    assert source.read_text(encoding="utf-8") == '{"prompt": "x"}\n'


def test_score_refuses_an_output_directory_that_does_not_exist(
    cli_deps: CliDeps, tmp_path: Path
) -> None:
    source = write_jsonl(tmp_path / "in.jsonl", ['{"prompt": "x"}'])
    target = tmp_path / "missing" / "out.jsonl"

    result = invoke(["score", "--input", str(source), "--output", str(target)], cli_deps)

    assert result.exit_code == 2
    assert f"{target.parent}: the output directory does not exist" in result.stderr


def test_score_rejects_an_unknown_on_error_mode(cli_deps: CliDeps, tmp_path: Path) -> None:
    source = write_jsonl(tmp_path / "in.jsonl", ['{"prompt": "x"}'])
    args = ["score", "--input", str(source), "--output", str(tmp_path / "o.jsonl")]

    result = invoke([*args, "--on-error", "ignore"], cli_deps)

    assert result.exit_code == 2
    assert "ignore" in result.output


def test_score_help_documents_the_exit_codes() -> None:
    result = invoke(["score", "--help"])

    assert "Exit codes: 0 every row scored; 1 output written" in result.stdout


# --- the real classifier -------------------------------------------------------------------


def publish_artifact(models_dir: Path, feature_names: tuple[str, ...]) -> None:
    """Fit a tiny ridge on the real encoder and publish it as version v1."""
    from sklearn.linear_model import Ridge

    from classifiers.artifacts import save_artifact
    from classifiers.encoder import Encoder
    from classifiers.features import build_features

    encoder = Encoder.load()
    texts = ["hi", "what is 2+2", "prove that sqrt(2) is irrational", "derive softmax gradients"]
    estimator = Ridge().fit(build_features(texts, encoder.encode(texts)), [0.05, 0.1, 0.9, 0.7])
    save_artifact(
        models_dir,
        "v1",
        estimator,
        encoder_name=encoder.name,
        encoder_dimension=encoder.dimension,
        feature_names=feature_names,
        training_data={"rows": len(texts)},
        metrics={},
    )
    (models_dir / "CURRENT").write_text("v1\n", encoding="utf-8")


@pytest.mark.slow
def test_route_loads_the_published_classifier(tmp_path: Path, policy_path: Path) -> None:
    from classifiers.features import FEATURE_NAMES

    publish_artifact(tmp_path, FEATURE_NAMES)
    settings = Settings(models_dir=tmp_path, policy_path=policy_path)

    result = invoke(
        ["route", "prove that 7 is prime", "--json"], CliDeps(settings=lambda: settings)
    )

    assert result.exit_code == 0, result.output
    decision = Decision.model_validate_json(result.stdout)
    assert decision.classifier_version == "v1"
    assert 0.0 <= decision.score <= 1.0


@pytest.mark.slow
def test_route_refuses_an_artifact_fitted_on_unknown_features(
    tmp_path: Path, policy_path: Path
) -> None:
    publish_artifact(tmp_path, ("mystery_feature",))
    settings = Settings(models_dir=tmp_path, policy_path=policy_path)

    result = invoke(["route", "hi"], CliDeps(settings=lambda: settings))

    assert result.exit_code == 2
    assert (
        "fitted on features ['mystery_feature'], which this build cannot compute" in result.stderr
    )
