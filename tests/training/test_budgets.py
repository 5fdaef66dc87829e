from __future__ import annotations

import numpy as np

from training.budgets import BudgetRow, _sweet_spot, fit_budgets


def rows(count: int, seed: int = 0) -> list[BudgetRow]:
    """Two kinds of prompts (feature 0 says which) needing about 400 or 3000 tokens."""
    rng = np.random.default_rng(seed)
    found = []
    for n in range(count):
        hard = n % 2 == 1
        need = (3000 if hard else 400) * rng.uniform(0.9, 1.1)
        vector = [1.0 if hard else 0.0, *rng.normal(0, 0.01, 5).tolist()]
        found.append(
            BudgetRow(
                tier="deep",
                model="m",
                vector=vector,
                reasoning_tokens=round(need),
                budget_tokens=8000,
                outcome=True,
            )
        )
    return found


def test_the_need_is_learned_per_prompt_and_covers_most_prompts() -> None:
    model = fit_budgets(rows(120))
    deep = model.tiers["deep"]

    easy = deep.need([0.0, 0, 0, 0, 0, 0])
    hard = deep.need([1.0, 0, 0, 0, 0, 0])
    assert 400 < easy < 600
    assert 3000 < hard < 4000


def test_a_thin_log_fits_no_need_model() -> None:
    assert not fit_budgets(rows(20)).tiers["deep"].fitted


def outcomes(used_and_won: list[tuple[int, bool]]) -> list[BudgetRow]:
    return [
        BudgetRow(
            tier="deep",
            model="m",
            vector=[0.0],
            reasoning_tokens=used,
            budget_tokens=None,
            outcome=won,
        )
        for used, won in used_and_won
    ]


def test_the_sweet_spot_is_the_last_success_before_success_falls() -> None:
    rising = [(100 + n, n % 5 != 0) for n in range(40)]  # 80% succeed, up to 139 tokens
    flat = [(1000 + n, True) for n in range(40)]  # all succeed, up to 1039
    falling = [(5000 + n, n % 10 >= 7) for n in range(40)]  # 30% succeed: overthinking
    assert _sweet_spot(outcomes(rising + flat + falling)) == 1039
    assert _sweet_spot(outcomes(rising + flat)) is None
