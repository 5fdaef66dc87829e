from __future__ import annotations

from datetime import UTC, datetime

import numpy as np

from records import Budget, ScoredPrompt
from router.decision.thinking import grid, per_prompt_budget
from training.budgets import BudgetModel, TierBudget

ADAPTIVE = Budget(budget_tokens=8000, min_tokens=256, max_tokens=12000)
PROMPT = ScoredPrompt.of("What is 2 + 2?", np.zeros(4))


def learned(need_log: float, sweet: int | None = None, model: str = "m") -> BudgetModel:
    tier = TierBudget(
        model=model,
        rows=80,
        outcomes=80,
        coef=[0.0] * 14,
        intercept=need_log,
        mean=[0.0] * 14,
        scale=[1.0] * 14,
        sigma=0.0,
        sweet_spot=sweet,
        success_by_bin=[],
    )
    return BudgetModel(
        fitted_at=datetime(2026, 12, 6, tzinfo=UTC), source="t", tiers={"deep": tier}
    )


def test_the_grid_runs_from_min_tokens_to_budget_tokens() -> None:
    levels = [budget.budget_tokens for budget in grid(ADAPTIVE)]

    assert levels[0] == 256 and levels[-1] == 8000
    assert levels == sorted(set(levels))
    assert grid(Budget(budget_tokens=800, max_tokens=2000)) == []


def test_a_prompt_gets_its_need_rounded_up_to_the_grid() -> None:
    budget, reason = per_prompt_budget("deep", "m", ADAPTIVE, learned(np.log1p(700)), PROMPT)

    assert budget.budget_tokens is not None and 700 <= budget.budget_tokens < 900
    assert reason is not None and reason.startswith(f"per-prompt budget {budget.budget_tokens}")


def test_the_sweet_spot_caps_the_budget() -> None:
    budget, reason = per_prompt_budget("deep", "m", ADAPTIVE, learned(np.log1p(7000), 3000), PROMPT)

    assert budget.budget_tokens is not None and 3000 <= budget.budget_tokens < 3800
    assert reason is not None and "sweet spot 3000" in reason


def test_without_a_model_the_fixed_budget_is_sent_and_the_reason_says_why() -> None:
    assert per_prompt_budget("deep", "m", ADAPTIVE, None, PROMPT) == (
        ADAPTIVE,
        "fixed budget 8000 tokens for tier 'deep': no budget model covers it yet"
        " (router budgets fit --logs)",
    )
    _, reason = per_prompt_budget("deep", "m", ADAPTIVE, learned(5.0, model="other"), PROMPT)
    assert reason is not None and reason.endswith("the budget model was fitted for other")
