from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

from router.decision.budgets import ReasoningControl
from router.decision.policy import Policy
from router.decision.policy_file import load_policy
from router.errors import PolicyError, UnknownModelError
from router.settings import SHIPPED_POLICY
from tests.router.conftest import WritePolicy, small_policy_data, tier_data

LOCAL_UPSTREAM = Path(__file__).resolve().parents[3] / "examples" / "local-upstream.yaml"


def policy_error(path: Path, env: dict[str, str] | None = None) -> PolicyError:
    with pytest.raises(PolicyError) as caught:
        load_policy(path, env={} if env is None else env)
    return caught.value


def with_tiers(*tiers: dict[str, Any]) -> dict[str, Any]:
    return {"version": "test-1", "tiers": list(tiers)}


def with_tier_change(index: int, **changes: Any) -> dict[str, Any]:
    data = small_policy_data()
    data["tiers"][index].update(changes)
    return data


# --- the shipped files ---------------------------------------------------------------------


def test_default_policy_loads_with_four_tiers_cheapest_first() -> None:
    policy = load_policy(SHIPPED_POLICY, env={})

    assert [tier.name for tier in policy.tiers] == ["fast", "standard", "reasoning", "deep"]
    assert policy.version == "2026-12-06.1"
    assert policy.tiers[0].budget.effort == "none"
    assert policy.tier("reasoning").budget.budget_tokens is not None
    assert policy.tier("deep").strategy.samples == 3
    assert policy.tier("deep").strategy.select == "majority_vote"
    assert all(tier.api_key_env and tier.fallbacks for tier in policy.tiers)


def test_local_upstream_example_sends_every_tier_to_one_server(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ROUTER_LOCAL_UPSTREAM", "http://127.0.0.1:8000/v1")

    policy = load_policy(LOCAL_UPSTREAM)

    assert {tier.api_base for tier in policy.tiers} == {"http://127.0.0.1:8000/v1"}
    assert all(tier.model.startswith("openai/local-") for tier in policy.tiers)
    assert {tier.api_key_env for tier in policy.tiers} == {"LOCAL_UPSTREAM_API_KEY"}


def test_local_upstream_example_tells_each_model_its_budget_by_chat_template(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ROUTER_LOCAL_UPSTREAM", "http://127.0.0.1:8000/v1")

    policy = load_policy(LOCAL_UPSTREAM)

    assert {tier.control for tier in policy.tiers} == {ReasoningControl.CHAT_TEMPLATE}


def test_a_tier_without_reasoning_takes_the_control_its_model_id_names() -> None:
    policy = Policy.model_validate(small_policy_data())

    assert policy.tier("fast").reasoning is None
    assert policy.tier("fast").control is ReasoningControl.NONE
    assert policy.tier("deep").control is ReasoningControl.ANTHROPIC_THINKING


def test_a_thinking_budget_its_model_cannot_take_loads_with_a_warning_naming_the_fix() -> None:
    policy = Policy.model_validate(small_policy_data())

    (warning,) = policy.warnings()
    assert warning.startswith(
        "tier 'mid': budget low/-/4096 asks for thinking, but model openai/mid-model has no"
        " reasoning control"
    )
    assert "set `reasoning` to how it takes one" in warning


def test_reasoning_none_sends_a_thinking_budget_as_max_tokens_only_on_purpose() -> None:
    data = with_tier_change(1, reasoning="none")

    policy = Policy.model_validate(data)

    assert policy.tier("mid").control is ReasoningControl.NONE
    assert policy.warnings() == []


def test_the_shipped_policies_ask_nothing_their_models_cannot_take(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ROUTER_LOCAL_UPSTREAM", "http://127.0.0.1:8000/v1")

    assert load_policy(SHIPPED_POLICY).warnings() == []
    assert load_policy(LOCAL_UPSTREAM).warnings() == []


def test_local_upstream_example_without_its_variable_names_it() -> None:
    error = policy_error(LOCAL_UPSTREAM)

    assert "ROUTER_LOCAL_UPSTREAM is not set" in str(error)
    assert "local-upstream.yaml: tier 'fast': api_base:" in str(error)
    assert (error.tier, error.field) == ("fast", "api_base")


# --- choosing a tier -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("score", "tier"),
    [
        (0.0, "fast"),
        (0.2999, "fast"),
        (0.3, "mid"),
        (0.5, "mid"),
        (0.7, "deep"),
        (0.99, "deep"),
        (1.0, "deep"),
    ],
)
def test_choose_puts_a_boundary_score_in_the_higher_tier(
    policy: Policy, score: float, tier: str
) -> None:
    assert policy.choose(score).name == tier


@pytest.mark.parametrize("score", [-0.01, 1.01, math.nan, math.inf])
def test_choose_refuses_a_score_outside_the_unit_interval(policy: Policy, score: float) -> None:
    with pytest.raises(ValueError, match="outside"):
        policy.choose(score)


def test_price_is_read_per_million_tokens(write_policy: WritePolicy) -> None:
    price = {"input_per_mtok": 0.25, "output_per_mtok": "${OUT_PRICE:-2}"}
    policy = load_policy(write_policy(with_tier_change(0, price=price)), env={})

    fast = policy.tiers[0].price
    assert fast is not None
    assert (fast.input_per_mtok, fast.output_per_mtok, fast.cached_input_per_mtok) == (
        0.25,
        2.0,
        None,
    )
    assert policy.tiers[1].price is None


def test_single_tier_policy_takes_every_score(write_policy: WritePolicy) -> None:
    policy = load_policy(write_policy(with_tiers(tier_data("only", (0.0, 1.0)))), env={})

    assert {policy.choose(score).name for score in (0.0, 0.5, 1.0)} == {"only"}


def test_tier_looks_up_by_name_and_refuses_unknown_names(policy: Policy) -> None:
    assert policy.tier("mid").band == (0.3, 0.7)
    with pytest.raises(UnknownModelError, match="no tier named 'huge'; tiers: fast, mid, deep"):
        policy.tier("huge")


def test_tier_for_model_finds_the_cheapest_tier_using_it(write_policy: WritePolicy) -> None:
    shared = "openai/shared"
    path = write_policy(
        with_tiers(
            tier_data("a", (0.0, 0.5), model=shared), tier_data("b", (0.5, 1.0), model=shared)
        )
    )
    policy = load_policy(path, env={})

    assert policy.tier_for_model(shared).name == "a"
    with pytest.raises(UnknownModelError, match="no tier uses model 'openai/other'"):
        policy.tier_for_model("openai/other")


def test_band_text_shows_half_open_bands_and_a_closed_last_band(policy: Policy) -> None:
    assert [policy.band_text(tier) for tier in policy.tiers] == [
        "[0, 0.3)",
        "[0.3, 0.7)",
        "[0.7, 1]",
    ]


# --- environment substitution --------------------------------------------------------------


def test_env_variables_are_substituted_in_string_values(write_policy: WritePolicy) -> None:
    path = write_policy(with_tier_change(0, api_base="${UPSTREAM}/v1", model="openai/${SMALL}"))

    policy = load_policy(path, env={"UPSTREAM": "http://gpu:8000", "SMALL": "tiny"})

    assert policy.tiers[0].api_base == "http://gpu:8000/v1"
    assert policy.tiers[0].model == "openai/tiny"


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, "http://default:1"),
        ({"UPSTREAM": ""}, "http://default:1"),
        ({"UPSTREAM": "http://set:2"}, "http://set:2"),
    ],
)
def test_env_default_applies_when_the_variable_is_unset_or_empty(
    write_policy: WritePolicy, env: dict[str, str], expected: str
) -> None:
    path = write_policy(with_tier_change(1, api_base="${UPSTREAM:-http://default:1}"))

    assert load_policy(path, env=env).tiers[1].api_base == expected


def test_env_values_are_validated_like_written_ones(write_policy: WritePolicy) -> None:
    path = write_policy(with_tier_change(2, timeout_s="${DEEP_TIMEOUT:-120}"))

    assert load_policy(path, env={}).tiers[2].timeout_s == 120.0


def test_env_defaults_to_the_process_environment(
    write_policy: WritePolicy, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("POLICY_TEST_BASE", "http://from-env:9")
    path = write_policy(with_tier_change(0, api_base="${POLICY_TEST_BASE}"))

    assert load_policy(path).tiers[0].api_base == "http://from-env:9"


def test_unset_variable_names_variable_tier_and_field(write_policy: WritePolicy) -> None:
    path = write_policy(with_tier_change(1, fallbacks=["openai/x", "${FALLBACK_MODEL}"]))

    error = policy_error(path)

    assert str(error).startswith(f"{path}: tier 'mid': fallbacks[1]: ")
    assert "environment variable FALLBACK_MODEL is not set" in str(error)


def test_unset_variable_in_version_has_no_tier(write_policy: WritePolicy) -> None:
    data = small_policy_data() | {"version": "${POLICY_VERSION}"}

    error = policy_error(write_policy(data))

    assert str(error) == (
        f"{write_policy(data)}: version: environment variable POLICY_VERSION is not set"
        " (write ${POLICY_VERSION:-default} for a default)"
    )


def test_malformed_reference_is_refused(write_policy: WritePolicy) -> None:
    error = policy_error(write_policy(with_tier_change(0, api_base="${UPSTREAM")))

    assert "tier 'fast': api_base: malformed reference" in str(error)


# --- validation errors ---------------------------------------------------------------------

BAD_TIERS: list[tuple[str, dict[str, Any], str, str, str]] = [
    (
        "overlap",
        with_tiers(tier_data("a", (0.0, 0.5)), tier_data("b", (0.4, 1.0))),
        "b",
        "band",
        "band [0.4, 1] overlaps tier 'a' [0, 0.5] on [0.4, 0.5): it must start at 0.5",
    ),
    (
        "gap",
        with_tiers(tier_data("a", (0.0, 0.4)), tier_data("b", (0.5, 1.0))),
        "b",
        "band",
        "scores in [0.4, 0.5) have no tier",
    ),
    (
        "first band after 0",
        with_tiers(tier_data("a", (0.1, 1.0))),
        "a",
        "band",
        "scores in [0, 0.1) have no tier: the first band must start at 0",
    ),
    (
        "last band before 1",
        with_tiers(tier_data("a", (0.0, 0.5)), tier_data("b", (0.5, 0.9))),
        "b",
        "band",
        "scores in (0.9, 1] have no tier: the last band must end at 1",
    ),
    (
        "empty band",
        with_tiers(tier_data("a", (0.0, 0.6)), tier_data("b", (0.6, 0.5))),
        "b",
        "band",
        "band [0.6, 0.5] is empty",
    ),
    (
        "band leaves [0, 1]",
        with_tiers(tier_data("a", (0.0, 1.5))),
        "a",
        "band",
        "band [0, 1.5] leaves [0, 1]",
    ),
    (
        "tiers out of order",
        with_tiers(
            tier_data("a", (0.0, 0.5)), tier_data("c", (0.7, 1.0)), tier_data("b", (0.5, 0.7))
        ),
        "b",
        "band",
        "list tiers in band order, cheapest first",
    ),
    (
        "unknown effort",
        with_tier_change(1, budget={"effort": "extreme", "max_tokens": 100}),
        "mid",
        "budget.effort",
        "must be 'none', 'low', 'medium' or 'high', not 'extreme'",
    ),
    (
        "budget_tokens not below max_tokens",
        with_tier_change(2, budget={"budget_tokens": 4096, "max_tokens": 4096}),
        "deep",
        "budget",
        "budget_tokens 4096 must be below max_tokens 4096",
    ),
    (
        "no samples",
        with_tier_change(2, strategy={"samples": 0, "select": "majority_vote"}),
        "deep",
        "strategy.samples",
        "must be greater than or equal to 1, not 0",
    ),
    (
        "unknown select",
        with_tier_change(2, strategy={"samples": 3, "select": "best"}),
        "deep",
        "strategy.select",
        "not 'best'",
    ),
    (
        "duplicate names",
        with_tiers(tier_data("a", (0.0, 0.5)), tier_data("a", (0.5, 1.0))),
        "a",
        "name",
        "duplicate tier name",
    ),
    (
        "unknown tier key",
        with_tier_change(0, modle="openai/typo"),
        "fast",
        "modle",
        "unknown key (known keys: name, band, model,",
    ),
    (
        "unknown budget key",
        with_tier_change(0, budget={"effrt": "low", "max_tokens": 100}),
        "fast",
        "budget.effrt",
        "unknown key (known keys: effort, budget_tokens, max_tokens, min_tokens)",
    ),
    (
        "missing model",
        {
            "version": "v",
            "tiers": [{k: v for k, v in tier_data("a", (0, 1)).items() if k != "model"}],
        },
        "a",
        "model",
        "required key is missing",
    ),
    (
        "band with three numbers",
        with_tier_change(0, band=[0.0, 0.2, 0.3]),
        "fast",
        "band",
        "Tuple should have at most 2 items",
    ),
    (
        "reserved name",
        with_tier_change(0, name="auto"),
        "auto",
        "name",
        "'auto' is reserved",
    ),
    (
        "api_base not a URL",
        with_tier_change(0, api_base="localhost:8000"),
        "fast",
        "api_base",
        "'localhost:8000' is not an http:// or https:// URL",
    ),
    (
        "fallback is the tier's own model",
        with_tier_change(0, fallbacks=["openai/fast-model"]),
        "fast",
        "fallbacks",
        "lists the tier's own model openai/fast-model",
    ),
    (
        "unknown reasoning control",
        with_tier_change(0, reasoning="vllm"),
        "fast",
        "reasoning",
        "'chat_template' or 'none', not 'vllm'",
    ),
    (
        "negative timeout",
        with_tier_change(1, timeout_s=-1),
        "mid",
        "timeout_s",
        "must be greater than 0, not -1",
    ),
    (
        "negative price",
        with_tier_change(0, price={"input_per_mtok": -1, "output_per_mtok": 2}),
        "fast",
        "price.input_per_mtok",
        "must be greater than or equal to 0",
    ),
    (
        "price without its output side",
        with_tier_change(0, price={"input_per_mtok": 1}),
        "fast",
        "price.output_per_mtok",
        "required key is missing",
    ),
    (
        "price key litellm spells per token",
        with_tier_change(
            0, price={"input_per_mtok": 1, "output_per_mtok": 2, "input_cost_per_token": 1e-6}
        ),
        "fast",
        "price.input_cost_per_token",
        "unknown key",
    ),
]


@pytest.mark.parametrize(
    ("data", "tier", "field", "problem"),
    [case[1:] for case in BAD_TIERS],
    ids=[case[0] for case in BAD_TIERS],
)
def test_invalid_tier_is_reported_with_file_tier_and_field(
    write_policy: WritePolicy, data: dict[str, Any], tier: str, field: str, problem: str
) -> None:
    path = write_policy(data)

    error = policy_error(path)

    assert str(error).startswith(f"{path}: tier '{tier}': {field}: ")
    assert problem in str(error)
    assert (error.source, error.tier, error.field) == (str(path), tier, field)


def test_no_tiers_is_refused(write_policy: WritePolicy) -> None:
    path = write_policy({"version": "v", "tiers": []})

    assert (
        str(policy_error(path)) == f"{path}: tiers: no tiers: a policy needs tiers covering [0, 1]"
    )


def test_unknown_top_level_key_is_refused(write_policy: WritePolicy) -> None:
    path = write_policy(small_policy_data() | {"defaults": {}})

    assert (
        str(policy_error(path))
        == f"{path}: defaults: unknown key (known keys: version, verifiers, spend_caps, tiers)"
    )


def test_several_problems_report_the_first_and_count_the_rest(write_policy: WritePolicy) -> None:
    data = with_tier_change(0, timeout_s=0, model="")

    assert "(and 1 more problem(s))" in str(policy_error(write_policy(data)))


def test_tier_without_a_name_is_identified_by_position(write_policy: WritePolicy) -> None:
    data = with_tiers(tier_data("a", (0.0, 0.5)), tier_data("", (0.5, 1.0), timeout_s=0))

    assert "tier '#2': " in str(policy_error(write_policy(data)))


def test_inline_api_key_is_refused_without_echoing_it(write_policy: WritePolicy) -> None:
    path = write_policy(with_tier_change(0, api_key="sk-live-secret"))

    error = policy_error(path)

    assert str(error).startswith(f"{path}: tier 'fast': api_key: keys must not be written")
    assert "sk-live-secret" not in str(error)


def test_key_pasted_into_api_key_env_is_refused_without_echoing_it(
    write_policy: WritePolicy,
) -> None:
    path = write_policy(with_tier_change(2, api_key_env="sk-ant-secret-123"))

    error = policy_error(path)

    assert str(error).startswith(f"{path}: tier 'deep': api_key_env: must be the name of")
    assert "sk-ant-secret" not in str(error)


def test_api_key_env_must_name_the_variable_not_substitute_it(write_policy: WritePolicy) -> None:
    path = write_policy(with_tier_change(0, api_key_env="${OPENAI_API_KEY}"))

    error = policy_error(path, env={"OPENAI_API_KEY": "sk-secret"})

    assert "tier 'fast': api_key_env: write the variable's name" in str(error)
    assert "sk-secret" not in str(error)


def test_yaml_syntax_error_gives_the_line(write_policy: WritePolicy) -> None:
    path = write_policy('version: "v"\ntiers:\n  - name: fast\n    band: [0.0, 1.0\n')

    error = policy_error(path)

    assert str(error).startswith(f"{path}: invalid YAML at line 5")


def test_duplicate_yaml_key_gives_the_line(write_policy: WritePolicy) -> None:
    text = 'version: "v"\ntiers:\n  - name: a\n    model: openai/x\n    model: openai/y\n'

    error = policy_error(write_policy(text))

    assert "invalid YAML at line 5, column 5: found duplicate key 'model'" in str(error)


@pytest.mark.parametrize("text", ["", "- just\n- a list\n", "just text\n"])
def test_document_that_is_not_a_mapping_is_refused(write_policy: WritePolicy, text: str) -> None:
    assert "expected a mapping with 'version' and 'tiers'" in str(policy_error(write_policy(text)))


def test_missing_file_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "absent.yaml"

    assert str(policy_error(path)) == f"{path}: file not found"


def test_non_utf8_file_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes('version: "caf\xe9"\n'.encode("latin-1"))

    assert str(policy_error(path)) == f"{path}: not UTF-8 text (byte 13)"


def test_unquoted_date_version_is_kept_as_text(write_policy: WritePolicy) -> None:
    text = "version: 2026-11-29\n" + write_policy(small_policy_data()).read_text().replace(
        "version: test-1\n", ""
    )

    assert load_policy(write_policy(text, "dated.yaml"), env={}).version == "2026-11-29"


def test_unquoted_number_version_asks_for_quotes(write_policy: WritePolicy) -> None:
    error = policy_error(write_policy(small_policy_data() | {"version": 1.10}))

    assert "version: 1.1 was read as a number: quote the version" in str(error)
