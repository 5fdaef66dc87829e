"""The shipped policy files load, and ask nothing their models cannot take."""

from __future__ import annotations

from pathlib import Path

import pytest

from router.decision.budgets import ReasoningControl
from router.decision.policy import Policy
from router.decision.policy_file import load_policy
from router.settings import SHIPPED_POLICY
from tests.router.conftest import small_policy_data
from tests.router.decision.conftest import policy_error, with_tier_change

LOCAL_UPSTREAM = Path(__file__).resolve().parents[3] / "examples" / "local-upstream.yaml"


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
