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


def test_the_sweet_spot_is_where_success_stops_rising_and_then_falls() -> None:
    rising_then_falling = [
        (500, 0.6, 20),
        (1000, 0.8, 20),
        (2000, 0.9, 20),
        (4000, 0.89, 20),
        (8000, 0.7, 20),
    ]
    assert _sweet_spot(rising_then_falling) == 4000
    assert _sweet_spot([(500, 0.6, 20), (1000, 0.8, 20), (2000, 0.9, 20)]) is None
