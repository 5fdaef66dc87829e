"""Per-prompt thinking budgets: a tier's learned need for each prompt, capped at its sweet spot.

A tier whose budget sets ``min_tokens`` (``budget: {budget_tokens: 8000, min_tokens: 256,
max_tokens: 12000}``) is adaptive: each prompt is sent ``budget_tokens`` in
``[min_tokens, cap]``, where ``cap`` is the tier's budget_tokens, or its sweet spot when the
budget model found one, and the value is the prompt's predicted need
(``training.budgets.TierBudget.need``) rounded up to the tier's grid (``grid``: from min_tokens
up by ``GRID_RATIO``, multiples of 64, ending at budget_tokens; the Upstream is built with a
route for each). While no budget model covers the tier (none fitted yet, or the log held too
few rows), the tier's fixed budget is sent and the reason says why.
"""

from __future__ import annotations

import math
from typing import Final

import numpy as np

from records import Budget, ScoredPrompt
from training.budgets import MIN_ROWS, BudgetModel

__all__ = ["GRID_RATIO", "grid", "per_prompt_budget"]

GRID_RATIO: Final = 1.25
GRID_STEP: Final = 64


def grid(budget: Budget) -> list[Budget]:
    """The budgets an adaptive ``budget`` may be sent as, smallest first (empty if fixed): each
    a plain budget_tokens (no ``min_tokens``), as headers and the record show it."""
    if budget.min_tokens is None or budget.budget_tokens is None:
        return []
    levels: list[int] = []
    level = float(max(budget.min_tokens, GRID_STEP))
    while level < budget.budget_tokens:
        rounded = math.ceil(level / GRID_STEP) * GRID_STEP
        if rounded < budget.budget_tokens and rounded not in levels:
            levels.append(rounded)
        level *= GRID_RATIO
    levels.append(budget.budget_tokens)
    return [
        budget.model_copy(update={"budget_tokens": tokens, "min_tokens": None}) for tokens in levels
    ]


def per_prompt_budget(
    tier: str, model: str, budget: Budget, budgets: BudgetModel | None, prompt: ScoredPrompt
) -> tuple[Budget, str | None]:
    """The budget to send ``prompt`` at this tier, and a reason (None for a fixed tier)."""
    levels = grid(budget)
    if not levels:
        return budget, None
    fixed = f"fixed budget {budget.budget_tokens} tokens for tier '{tier}'"
    learned = None if budgets is None else budgets.tiers.get(tier)
    if learned is None:
        return budget, f"{fixed}: no budget model covers it yet (router budgets fit --logs)"
    if learned.model != model or not learned.fitted:
        why = (
            f"the budget model was fitted for {learned.model}"
            if learned.model != model
            else f"the log held {learned.rows} usable rows of it, fewer than {MIN_ROWS}"
        )
        return budget, f"{fixed}: {why}"
    vector = _vector(prompt)
    if learned.mean is None or len(vector) != len(learned.mean):
        return budget, f"{fixed}: the budget model reads other features than this prompt has"
    need = learned.need(vector)
    cap = budget.budget_tokens or 0
    if learned.sweet_spot is not None:
        cap = min(cap, learned.sweet_spot)
    wanted = min(max(need, budget.min_tokens or 0), cap)
    chosen = next(level for level in levels if (level.budget_tokens or 0) >= wanted)
    sweet = "" if learned.sweet_spot is None else f", sweet spot {learned.sweet_spot}"
    reason = (
        f"per-prompt budget {chosen.budget_tokens} tokens for tier '{tier}': need {need}"
        f" predicted, bounds [{budget.min_tokens}, {budget.budget_tokens}]{sweet}"
        f" (budget model of {learned.rows} rows, {budgets.fitted_at:%Y-%m-%d %H:%M} UTC)"
        if budgets is not None
        else ""
    )
    return chosen, reason


def _vector(prompt: ScoredPrompt) -> list[float]:
    embedding = np.frombuffer(prompt.embedding, dtype="<f2").astype(np.float64)
    return [*embedding.tolist(), *prompt.features]
