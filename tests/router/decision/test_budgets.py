"""router.decision.budgets: one Budget, spelled for each provider family."""

from __future__ import annotations

import pytest

from records import Budget
from router.decision.budgets import (
    ANTHROPIC_MIN_THINKING_TOKENS,
    MIN_ANSWER_TOKENS,
    ReasoningControl,
    budget_params,
    effort_of,
    reasoning_control,
    steers,
)


@pytest.mark.parametrize(
    ("model", "control"),
    [
        ("o3-mini", ReasoningControl.OPENAI_EFFORT),
        ("openai/o1", ReasoningControl.OPENAI_EFFORT),
        ("azure/o4-mini", ReasoningControl.OPENAI_EFFORT),
        ("gpt-5-mini", ReasoningControl.OPENAI_EFFORT),
        ("anthropic/claude-sonnet-4-5", ReasoningControl.ANTHROPIC_THINKING),
        ("bedrock/anthropic.claude-3-7-sonnet", ReasoningControl.ANTHROPIC_THINKING),
        ("gemini/gemini-2.5-flash", ReasoningControl.GEMINI_BUDGET),
        ("vertex_ai/gemini-2.5-pro", ReasoningControl.GEMINI_BUDGET),
        ("gemini/gemini-3-pro-preview", ReasoningControl.GEMINI_LEVEL),
        ("hosted_vllm/meta-llama/Llama-3.1-8B", ReasoningControl.CHAT_TEMPLATE),
        ("openai/Qwen/Qwen3-8B", ReasoningControl.CHAT_TEMPLATE),
        ("gpt-4o-mini", ReasoningControl.NONE),
        ("openai/o3x-custom", ReasoningControl.NONE),
    ],
)
def test_reasoning_control_is_recognised_from_the_model_id(
    model: str, control: ReasoningControl
) -> None:
    assert reasoning_control(model) is control


@pytest.mark.parametrize(
    ("budget_tokens", "effort"),
    [(0, "none"), (1000, "low"), (2048, "low"), (3000, "medium"), (20000, "high"), (90000, "high")],
)
def test_token_budget_maps_to_the_effort_that_covers_it(budget_tokens: int, effort: str) -> None:
    assert effort_of(Budget(budget_tokens=budget_tokens, max_tokens=100_000)) == effort


def test_openai_reasoning_gets_effort_and_max_completion_tokens() -> None:
    params = budget_params("openai/o3-mini", Budget(effort="medium", max_tokens=16_000))

    assert params == {"reasoning_effort": "medium", "max_completion_tokens": 16_000}


def test_openai_reasoning_effort_can_come_from_tokens() -> None:
    params = budget_params("o4-mini", Budget(budget_tokens=2000, max_tokens=8000))

    assert params["reasoning_effort"] == "low"


@pytest.mark.parametrize(
    ("model", "word"), [("gpt-5", "minimal"), ("gpt-5-nano", "minimal"), ("gpt-5.1", "none")]
)
def test_gpt5_turns_thinking_down_as_far_as_it_goes(model: str, word: str) -> None:
    params = budget_params(model, Budget(effort="none", max_tokens=1000))

    assert params["reasoning_effort"] == word


def test_o_series_cannot_stop_thinking_so_none_is_low() -> None:
    assert budget_params("o3", Budget(effort="none", max_tokens=1000))["reasoning_effort"] == "low"


def test_anthropic_gets_thinking_with_budget_tokens() -> None:
    params = budget_params(
        "anthropic/claude-sonnet-4-5", Budget(budget_tokens=4000, max_tokens=16_000)
    )

    assert params == {"thinking": {"type": "enabled", "budget_tokens": 4000}, "max_tokens": 16_000}


@pytest.mark.parametrize(("effort", "tokens"), [("low", 2048), ("medium", 8192), ("high", 24576)])
def test_anthropic_effort_becomes_a_token_budget(effort: str, tokens: int) -> None:
    params = budget_params("claude-opus-4-1", Budget(effort=effort, max_tokens=64_000))  # type: ignore[arg-type]

    assert params["thinking"]["budget_tokens"] == tokens


def test_anthropic_thinking_is_at_least_its_minimum() -> None:
    params = budget_params(
        "anthropic/claude-sonnet-4-5", Budget(budget_tokens=100, max_tokens=8000)
    )

    assert params["thinking"]["budget_tokens"] == ANTHROPIC_MIN_THINKING_TOKENS


def test_anthropic_without_effort_does_not_think() -> None:
    params = budget_params("anthropic/claude-sonnet-4-5", Budget(effort="none", max_tokens=2000))

    assert params == {"max_tokens": 2000}


def test_ceiling_is_raised_to_leave_room_for_the_answer() -> None:
    params = budget_params(
        "anthropic/claude-sonnet-4-5", Budget(budget_tokens=8000, max_tokens=8500)
    )

    assert params["max_tokens"] == 8000 + MIN_ANSWER_TOKENS


def test_gemini_2_gets_a_thinking_budget() -> None:
    params = budget_params("gemini/gemini-2.5-flash", Budget(effort="high", max_tokens=40_000))

    assert params == {"thinking": {"type": "enabled", "budget_tokens": 24576}, "max_tokens": 40_000}


def test_gemini_2_with_effort_none_turns_thinking_off() -> None:
    params = budget_params("gemini/gemini-2.5-flash", Budget(effort="none", max_tokens=1000))

    assert params == {"reasoning_effort": "none", "max_tokens": 1000}


def test_gemini_3_gets_an_effort_level() -> None:
    params = budget_params(
        "gemini/gemini-3-pro-preview", Budget(budget_tokens=9000, max_tokens=30_000)
    )

    assert params == {"reasoning_effort": "high", "max_tokens": 30_000}


def test_vllm_qwen_gets_enable_thinking_through_extra_body() -> None:
    params = budget_params("hosted_vllm/Qwen/Qwen3-8B", Budget(effort="low", max_tokens=4096))

    assert params == {
        "extra_body": {"chat_template_kwargs": {"enable_thinking": True}},
        "max_tokens": 4096,
    }


def test_vllm_qwen_with_effort_none_does_not_think() -> None:
    params = budget_params("openai/qwen3-32b", Budget(effort="none", max_tokens=1000))

    assert params["extra_body"] == {"chat_template_kwargs": {"enable_thinking": False}}


def test_a_named_control_wins_over_the_model_id() -> None:
    budget = Budget(effort="medium", max_tokens=16_000)

    served = budget_params("openai/local-reasoner", budget, ReasoningControl.CHAT_TEMPLATE)
    plain = budget_params("openai/qwen3-32b", budget, ReasoningControl.NONE)

    assert served["extra_body"] == {"chat_template_kwargs": {"enable_thinking": True}}
    assert plain == {"max_tokens": 16_000}


@pytest.mark.parametrize(
    ("control", "budget", "reaches"),
    [
        (ReasoningControl.NONE, Budget(effort="high", max_tokens=900), False),
        (ReasoningControl.NONE, Budget(budget_tokens=100, max_tokens=900), False),
        (ReasoningControl.NONE, Budget(effort="none", max_tokens=900), True),
        (ReasoningControl.NONE, Budget(budget_tokens=0, max_tokens=900), True),
        (ReasoningControl.NONE, Budget(max_tokens=900), True),
        (ReasoningControl.CHAT_TEMPLATE, Budget(effort="high", max_tokens=900), True),
    ],
)
def test_a_budget_steers_a_model_unless_it_asks_for_thinking_the_model_cannot_do(
    control: ReasoningControl, budget: Budget, reaches: bool
) -> None:
    assert steers(control, budget) is reaches


def test_model_without_reasoning_control_gets_only_its_ceiling() -> None:
    assert budget_params("gpt-4o-mini", Budget(effort="high", max_tokens=900)) == {
        "max_tokens": 900
    }


@pytest.mark.parametrize(
    "model", ["o3", "anthropic/claude-sonnet-4-5", "gemini/gemini-2.5-pro", "hosted_vllm/qwen3"]
)
def test_budget_without_effort_or_tokens_sends_only_the_ceiling(model: str) -> None:
    params = budget_params(model, Budget(max_tokens=700))

    assert set(params) in ({"max_tokens"}, {"max_completion_tokens"})
    assert next(iter(params.values())) == 700
