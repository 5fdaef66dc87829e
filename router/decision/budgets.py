"""A thinking budget in each provider's own words, as litellm 1.110 expects them.

A ``Budget`` says how hard a model may think (an effort and/or a token budget) under an output
ceiling. ``budget_params(model, budget)`` spells it for the model's family:

    family (recognised by)             what is sent
    openai reasoning (o1 o3 o4 gpt-5+)  reasoning_effort, max_completion_tokens
    anthropic (anthropic/, claude)     thinking={"type": "enabled", "budget_tokens": N}, max_tokens
    gemini 2.x (gemini/, vertex_ai/)   thinking={"type": "enabled", "budget_tokens": N}, max_tokens
    gemini 3 and later                 reasoning_effort, max_tokens (litellm drops token budgets)
    vLLM / qwen (hosted_vllm/, *qwen*) extra_body={"chat_template_kwargs": {"enable_thinking": b}}
                                       (+ "thinking_token_budget": N when budget_tokens is set)
    anything else                      max_tokens only: the model has no reasoning control

A policy tier may name its model's control (``reasoning: chat_template``) where the id does not
tell: a self-hosted model reached as ``openai/<served name>`` looks like any OpenAI-protocol model.

Effort and tokens stand in for each other: an effort-only budget thinks ``EFFORT_TOKENS[effort]``
tokens where the provider wants a number, and a tokens-only budget gets the effort whose token
count covers it where the provider wants a level. Effort ``none`` turns thinking off where the
provider allows it (OpenAI o-series cannot: they get ``low``).

Room for the answer: thinking tokens count against the output ceiling, so a ceiling that leaves
less than ``MIN_ANSWER_TOKENS`` after the thinking is raised to ``thinking + MIN_ANSWER_TOKENS``.
Anthropic also requires at least ``ANTHROPIC_MIN_THINKING_TOKENS`` of thinking when it is on.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Any, Final

from records import Budget, Effort

MIN_ANSWER_TOKENS: Final = 1024
ANTHROPIC_MIN_THINKING_TOKENS: Final = 1024
EFFORT_TOKENS: Final[dict[Effort, int]] = {"none": 0, "low": 2048, "medium": 8192, "high": 24576}

_OPENAI_REASONING: Final = re.compile(r"^(o1|o3|o4)(-|$)|^gpt-([5-9]|\d\d)")
_GPT5_WITH_NONE: Final = re.compile(r"^gpt-(5\.\d|[6-9]|\d\d)")
_GEMINI_MAJOR: Final = re.compile(r"gemini-(\d+)")


class ReasoningControl(StrEnum):
    """How a model family is told how hard to think."""

    OPENAI_EFFORT = "openai_effort"
    ANTHROPIC_THINKING = "anthropic_thinking"
    GEMINI_BUDGET = "gemini_budget"
    GEMINI_LEVEL = "gemini_level"
    CHAT_TEMPLATE = "chat_template"
    NONE = "none"


def _name(model: str) -> str:
    """The model's own name, without provider prefixes: ``openai/o3-mini`` -> ``o3-mini``."""
    return model.rsplit("/", 1)[-1].lower()


def reasoning_control(model: str) -> ReasoningControl:
    name = _name(model)
    if model.startswith("anthropic/") or "claude" in name:
        return ReasoningControl.ANTHROPIC_THINKING
    if "gemini" in name:
        major = _GEMINI_MAJOR.search(name)
        newer = major is not None and int(major.group(1)) >= 3
        return ReasoningControl.GEMINI_LEVEL if newer else ReasoningControl.GEMINI_BUDGET
    if model.startswith("hosted_vllm/") or "qwen" in model.lower():
        return ReasoningControl.CHAT_TEMPLATE
    if _OPENAI_REASONING.search(name):
        return ReasoningControl.OPENAI_EFFORT
    return ReasoningControl.NONE


def control_of(model: str, named: ReasoningControl | None) -> ReasoningControl:
    """``named`` (a policy tier's ``reasoning``), else the control recognised from the id."""
    return reasoning_control(model) if named is None else named


def effort_of(budget: Budget) -> Effort | None:
    """The budget's effort, or the smallest effort whose tokens cover its budget_tokens."""
    if budget.effort is not None or budget.budget_tokens is None:
        return budget.effort
    return next(
        (effort for effort, tokens in EFFORT_TOKENS.items() if budget.budget_tokens <= tokens),
        "high",
    )


def thinking_tokens(budget: Budget) -> int:
    """Tokens the budget lets the model think: budget_tokens, else the effort's share, else 0."""
    if budget.effort == "none":
        return 0
    if budget.budget_tokens is not None:
        return budget.budget_tokens
    return EFFORT_TOKENS[budget.effort] if budget.effort is not None else 0


def output_ceiling(budget: Budget, thinking: int) -> int:
    """``budget.max_tokens``, raised so that ``MIN_ANSWER_TOKENS`` remain after ``thinking``."""
    if thinking <= 0:
        return budget.max_tokens
    return max(budget.max_tokens, thinking + MIN_ANSWER_TOKENS)


def _openai(model: str, budget: Budget) -> dict[str, Any]:
    params: dict[str, Any] = {
        "max_completion_tokens": output_ceiling(budget, thinking_tokens(budget))
    }
    effort = effort_of(budget)
    if effort == "none":
        name = _name(model)
        effort_word = "none" if _GPT5_WITH_NONE.search(name) else "minimal"
        params["reasoning_effort"] = effort_word if name.startswith("gpt-5") else "low"
    elif effort is not None:
        params["reasoning_effort"] = effort
    return params


def _anthropic(budget: Budget) -> dict[str, Any]:
    thinking = thinking_tokens(budget)
    if thinking <= 0:
        return {"max_tokens": budget.max_tokens}
    thinking = max(thinking, ANTHROPIC_MIN_THINKING_TOKENS)
    return {
        "thinking": {"type": "enabled", "budget_tokens": thinking},
        "max_tokens": output_ceiling(budget, thinking),
    }


def _gemini_budget(budget: Budget) -> dict[str, Any]:
    thinking = thinking_tokens(budget)
    params: dict[str, Any] = {"max_tokens": output_ceiling(budget, thinking)}
    if budget.effort is None and budget.budget_tokens is None:
        return params
    if thinking > 0:
        params["thinking"] = {"type": "enabled", "budget_tokens": thinking}
    else:
        params["reasoning_effort"] = "none"
    return params


def _gemini_level(budget: Budget) -> dict[str, Any]:
    params: dict[str, Any] = {"max_tokens": output_ceiling(budget, thinking_tokens(budget))}
    effort = effort_of(budget)
    if effort is not None:
        params["reasoning_effort"] = effort
    return params


def _chat_template(budget: Budget) -> dict[str, Any]:
    thinking = thinking_tokens(budget)
    params: dict[str, Any] = {"max_tokens": output_ceiling(budget, thinking)}
    if budget.effort is None and budget.budget_tokens is None:
        return params
    extra: dict[str, Any] = {"chat_template_kwargs": {"enable_thinking": thinking > 0}}
    if thinking > 0 and budget.budget_tokens is not None:
        extra["thinking_token_budget"] = budget.budget_tokens
    params["extra_body"] = extra
    return params


def steers(control: ReasoningControl, budget: Budget) -> bool:
    """Whether ``budget`` reaches a model with this control: False when it asks for thinking
    and the model has no way to be told."""
    return thinking_tokens(budget) == 0 or control is not ReasoningControl.NONE


def budget_params(
    model: str, budget: Budget, control: ReasoningControl | None = None
) -> dict[str, Any]:
    """The litellm completion parameters that give ``model`` this thinking budget.

    ``control`` is how the model takes it; None recognises it from the id.
    """
    control = control_of(model, control)
    if control is ReasoningControl.OPENAI_EFFORT:
        return _openai(model, budget)
    if control is ReasoningControl.ANTHROPIC_THINKING:
        return _anthropic(budget)
    if control is ReasoningControl.GEMINI_BUDGET:
        return _gemini_budget(budget)
    if control is ReasoningControl.GEMINI_LEVEL:
        return _gemini_level(budget)
    if control is ReasoningControl.CHAT_TEMPLATE:
        return _chat_template(budget)
    return {"max_tokens": budget.max_tokens}
