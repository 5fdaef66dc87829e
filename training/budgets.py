"""Per-prompt thinking budgets learned from the decision log, and each tier's sweet spot.

    model = fit_budgets(read_budget_rows(Path("export.jsonl")))   # router budgets fit --logs
    model.save(data_dir / BUDGET_MODEL_FILE)

**Need.** Per (tier, model), on the answered rows whose outcome was a success and whose
thinking was not cut off by the budget sent (reasoning below ``TRUNCATED_SHARE`` of
budget_tokens), a ridge regression of ``log1p(reasoning tokens)`` on the prompt's embedding and
ten text features (standardised) learns how many reasoning tokens a prompt needs.
``TierBudget.need`` predicts it for a new prompt at the ``COVER`` quantile of the residuals
(a normal approximation: mean + z sigma, sigma from ``CV_FOLDS``-fold held-out residuals, the
error a new prompt's prediction has), so that most prompts get at least what they need.

**Sweet spot.** On every answered row with an outcome, ordered by reasoning tokens used, the
success rate over a sliding window (``MIN_BIN_ROWS`` rows, or a twentieth of them) is followed
upward; where it first falls more than ``SWEET_DROP`` below the best rate seen so far, the sweet
spot is the reasoning of the last success before that window's first failure (success stops
rising, then falls: overthinking). Without such a fall there is no sweet spot, and the tier's
budget_tokens stays the cap. ``success_by_bin`` (``SWEET_BINS`` quantile bins) is kept for the
table and the report.

A tier with fewer than ``MIN_ROWS`` usable rows gets no model: the router keeps its fixed
budget and says so. The model is JSON (coefficients, scalers, sigma, sweet spot, counts), read
by ``router.decision.thinking``.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from itertools import pairwise
from pathlib import Path
from typing import Final

import numpy as np
from pydantic import BaseModel, ConfigDict
from sklearn.linear_model import Ridge
from sklearn.model_selection import cross_val_predict

from classifiers.files import atomic_text
from records import ExportRow
from training.datasets import read_jsonl
from training.logs import row_features, row_outcome, row_vector

__all__ = [
    "BUDGET_MODEL_FILE",
    "BudgetModel",
    "BudgetRow",
    "TierBudget",
    "fit_budgets",
    "read_budget_rows",
]

BUDGET_MODEL_FILE: Final = "budget-model.json"
MIN_ROWS: Final = 50
RIDGE_ALPHA: Final = 10.0
CV_FOLDS: Final = 5
TRUNCATED_SHARE: Final = 0.98
COVER: Final = 0.9
SWEET_BINS: Final = 6
SWEET_DROP: Final = 0.05
MIN_BIN_ROWS: Final = 10
_Z: Final = {0.8: 0.8416, 0.9: 1.2816, 0.95: 1.6449}


class BudgetRow(BaseModel):
    """What the fit needs of one logged answer."""

    model_config = ConfigDict(frozen=True)

    tier: str
    model: str
    vector: list[float]
    reasoning_tokens: int
    budget_tokens: int | None
    outcome: bool | None


class TierBudget(BaseModel):
    """One tier's learned need and sweet spot."""

    model_config = ConfigDict(frozen=True)

    model: str
    rows: int
    outcomes: int
    coef: list[float] | None
    intercept: float
    mean: list[float] | None
    scale: list[float] | None
    sigma: float
    sweet_spot: int | None
    success_by_bin: list[tuple[int, float, int]]
    """(upper edge in reasoning tokens, success rate, rows) per bin."""

    @property
    def fitted(self) -> bool:
        return self.coef is not None

    def need(self, vector: Sequence[float], cover: float = COVER) -> int:
        """Reasoning tokens the prompt is predicted to need, at the ``cover`` quantile."""
        if self.coef is None or self.mean is None or self.scale is None:
            raise ValueError("this tier has no fitted need model")
        x = (np.asarray(vector, dtype=np.float64) - self.mean) / self.scale
        log_need = float(x @ np.asarray(self.coef)) + self.intercept + _Z[cover] * self.sigma
        return max(0, math.ceil(math.expm1(log_need)))


class BudgetModel(BaseModel):
    model_config = ConfigDict(frozen=True)

    fitted_at: datetime
    source: str
    tiers: dict[str, TierBudget]

    def save(self, path: Path) -> None:
        with atomic_text(path) as handle:
            handle.write(self.model_dump_json(indent=1))

    @classmethod
    def load(cls, path: Path) -> BudgetModel:
        return cls.model_validate_json(path.read_text(encoding="utf-8"))


def read_budget_rows(path: Path) -> list[BudgetRow]:
    """The answered rows of an export, with their features and outcome."""
    rows = []
    for _, obj in read_jsonl(path):
        logged = ExportRow.model_validate(obj)
        if logged.status != "ok":
            continue
        tokens = None if logged.budget is None else logged.budget.budget_tokens
        vector = [*row_vector(logged).tolist(), *row_features(logged)]
        rows.append(
            BudgetRow(
                tier=logged.tier,
                model=logged.model,
                vector=vector,
                reasoning_tokens=logged.reasoning_tokens,
                budget_tokens=tokens,
                outcome=row_outcome(logged),
            )
        )
    return rows


def fit_budgets(rows: Iterable[BudgetRow], source: str = "") -> BudgetModel:
    by_tier: dict[tuple[str, str], list[BudgetRow]] = defaultdict(list)
    for row in rows:
        by_tier[(row.tier, row.model)].append(row)
    tiers = {tier: _fit_tier(model, found) for (tier, model), found in by_tier.items()}
    return BudgetModel(fitted_at=datetime.now(UTC), source=source, tiers=tiers)


def _fit_tier(model: str, rows: list[BudgetRow]) -> TierBudget:
    usable = [row for row in rows if row.outcome is True and not _truncated(row)]
    outcomes = [row for row in rows if row.outcome is not None]
    bins = _success_by_bin(outcomes)
    base = TierBudget(
        model=model,
        rows=len(usable),
        outcomes=len(outcomes),
        coef=None,
        intercept=0.0,
        mean=None,
        scale=None,
        sigma=0.0,
        sweet_spot=_sweet_spot(outcomes),
        success_by_bin=bins,
    )
    if len(usable) < MIN_ROWS:
        return base
    x = np.asarray([row.vector for row in usable], dtype=np.float64)
    y = np.log1p(np.asarray([row.reasoning_tokens for row in usable], dtype=np.float64))
    mean, scale = x.mean(axis=0), x.std(axis=0)
    scale[scale == 0] = 1.0
    scaled = (x - mean) / scale
    ridge = Ridge(alpha=RIDGE_ALPHA).fit(scaled, y)
    held_out = cross_val_predict(Ridge(alpha=RIDGE_ALPHA), scaled, y, cv=CV_FOLDS)
    residuals = y - held_out  # held-out errors: what a new prompt's prediction is off by
    return base.model_copy(
        update={
            "coef": ridge.coef_.tolist(),
            "intercept": float(ridge.intercept_),
            "mean": mean.tolist(),
            "scale": scale.tolist(),
            "sigma": float(residuals.std()),
        }
    )


def _truncated(row: BudgetRow) -> bool:
    return row.budget_tokens is not None and row.reasoning_tokens >= (
        TRUNCATED_SHARE * row.budget_tokens
    )


def _success_by_bin(rows: list[BudgetRow]) -> list[tuple[int, float, int]]:
    if len(rows) < SWEET_BINS * MIN_BIN_ROWS:
        return []
    used = np.asarray([row.reasoning_tokens for row in rows], dtype=np.float64)
    won = np.asarray([row.outcome for row in rows], dtype=np.float64)
    edges = np.unique(np.quantile(used, np.linspace(0, 1, SWEET_BINS + 1)))
    bins = []
    for low, high in pairwise(edges):
        inside = (used >= low) & ((used < high) | (high == edges[-1]))
        if inside.sum() >= MIN_BIN_ROWS:
            bins.append((int(high), float(won[inside].mean()), int(inside.sum())))
    return bins


def _sweet_spot(rows: list[BudgetRow]) -> int | None:
    """Where success stops rising: scanning the rows by reasoning tokens used, the success rate
    over a sliding window of them first falls more than ``SWEET_DROP`` below its best (reached
    earlier); the sweet spot is the reasoning of the last success before the first failure in
    that window. None when success never falls (or too few rows)."""
    if len(rows) < SWEET_BINS * MIN_BIN_ROWS:
        return None
    ordered = sorted(rows, key=lambda row: row.reasoning_tokens)
    won = np.asarray([row.outcome for row in ordered], dtype=np.float64)
    width = max(MIN_BIN_ROWS, len(ordered) // 20)
    rates = np.convolve(won, np.ones(width) / width, mode="valid")
    best = float(rates[0])
    for start, rate in enumerate(rates):
        best = max(best, float(rate))
        if rate < best - SWEET_DROP:
            failure = start + int(np.argmin(won[start : start + width]))
            before = [row for row in ordered[:failure] if row.outcome]
            return before[-1].reasoning_tokens if before else None
    return None
