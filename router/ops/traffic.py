"""What a simulation replays: logged decisions (an export) or a labelled data file, as columns.

**An export** (``router logs export``): one row per logged request that the upstream answered
(``status`` ok; the others are counted, not simulated), with its stored score, the tier that
served it, the probability that tier had of being chosen (below 1 only with exploration on), its
observed outcome (``training.logs.observed_outcome``: verifier, else outcomes, else ratings;
NaN without feedback), its tokens, cost and latency. ``rescore`` replaces the stored scores with
the current classifier's, which needs the prompt text in the export.

**A labelled file** (the seed data's format): every row with both recorded outcomes
(``labels.correct``) is scored with the current classifier and stands for one request at *every*
tier, each with probability ``1 / tiers`` (a log of a uniformly random policy, so the estimators
need no special case): tier 0 takes the weak model's recorded outcome, every higher tier the
strong model's. No tokens were observed, so each tier's are predicted from its budget: prompt
tokens about characters / 4, output ``max_tokens`` x samples, reasoning ``budget_tokens`` x
samples (an upper bound on cost). Latency is unknown (NaN).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
from pydantic import ValidationError

from records import ExportRow
from router.decision.policy import Policy
from router.errors import DataError, RowError
from training.datasets import read_jsonl, read_seed_rows
from training.label_tables import STRONG_MODEL, WEAK_MODEL
from training.logs import OK_STATUS, observed_outcome

__all__ = ["Traffic", "read_export", "read_labelled", "traffic_of_rows"]

FloatArray = npt.NDArray[np.float64]
Rescore = Callable[[Sequence[str]], npt.ArrayLike]
CHARS_PER_TOKEN = 4


@dataclass(frozen=True)
class Traffic:
    """One row per (request, logged tier), column by column."""

    source: Literal["logs", "data"]
    score: FloatArray
    tier: npt.NDArray[np.str_]
    propensity: FloatArray
    success: FloatArray  # 1.0, 0.0 or NaN (no outcome)
    prompt_tokens: FloatArray
    completion_tokens: FloatArray
    reasoning_tokens: FloatArray
    cost_usd: FloatArray
    latency_ms: FloatArray  # NaN when unknown
    requests: int  # distinct requests (rows / tiers for a labelled file)
    not_ok: int = 0
    policy_versions: dict[str, int] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.score)

    @property
    def tiers_seen(self) -> set[str]:
        return {str(name) for name in np.unique(self.tier)}

    @property
    def exploration_rate(self) -> float:
        """The logged rate: ``1 - p`` of the rows that kept the policy's tier (``p`` the largest
        propensity below 1); 0 when every choice was certain."""
        below = self.propensity[self.propensity < 1.0]
        if self.source == "data" or below.size == 0:
            return 0.0
        return float(1.0 - below.max())


def read_export(path: Path, *, rescore: Rescore | None = None) -> Traffic:
    """The answered requests of an export; ``DataError`` naming the line for a malformed row."""
    return traffic_of_rows(path, read_jsonl(path), rescore=rescore)


def traffic_of_rows(
    path: Path | str,
    rows_in: Iterable[tuple[int, dict[str, Any]]],
    *,
    rescore: Rescore | None = None,
) -> Traffic:
    """``(number, export row)`` pairs (a file's lines, or ``export_row`` of a store's records)
    as traffic; ``path`` names them in errors."""
    path = Path(path)
    rows: list[ExportRow] = []
    not_ok = 0
    versions: Counter[str] = Counter()
    for line, obj in rows_in:
        row = _logged(path, line, obj)
        versions[row.policy_version] += 1
        if row.status != OK_STATUS:
            not_ok += 1
            continue
        rows.append(row)
    if not rows:
        raise DataError(f"{path}: no answered requests to simulate ({not_ok} failed calls)")
    scores = np.array([row.score for row in rows], dtype=np.float64)
    if rescore is not None:
        scores = _rescored(path, rows, rescore)
    return Traffic(
        source="logs",
        score=scores,
        tier=np.array([row.tier for row in rows], dtype=np.str_),
        propensity=_column(rows, lambda row: row.choice_probability),
        success=_column(rows, _success),
        prompt_tokens=_column(rows, lambda row: row.prompt_tokens),
        completion_tokens=_column(rows, lambda row: row.completion_tokens),
        reasoning_tokens=_column(rows, lambda row: row.reasoning_tokens),
        cost_usd=_column(rows, lambda row: row.cost_usd),
        latency_ms=_column(rows, lambda row: row.latency_ms),
        requests=len(rows),
        not_ok=not_ok,
        policy_versions=dict(versions.most_common()),
    )


def _logged(path: Path, line: int, obj: dict[str, Any]) -> ExportRow:
    try:
        return ExportRow.model_validate(obj)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        where = ".".join(str(part) for part in first["loc"]) or "row"
        message = first["msg"].removeprefix("Value error, ")
        raise RowError(path, line, f"field '{where}': {message}") from exc


def _success(row: ExportRow) -> float:
    outcome = observed_outcome(row.feedback)
    return math.nan if outcome is None else float(outcome)


def _column(rows: Iterable[ExportRow], get: Callable[[ExportRow], float]) -> FloatArray:
    return np.array([get(row) for row in rows], dtype=np.float64)


def _rescored(path: Path, rows: Sequence[ExportRow], rescore: Rescore) -> FloatArray:
    missing = sum(row.prompt is None for row in rows)
    if missing:
        raise DataError(
            f"{path}: {missing} of {len(rows)} rows carry no prompt text, so they cannot be"
            " re-scored (the service ran with ROUTER_STORE_PROMPT_TEXT=false); simulate on the"
            " stored scores instead"
        )
    texts = [row.prompt or "" for row in rows]
    return np.clip(np.asarray(rescore(texts), dtype=np.float64).reshape(-1), 0.0, 1.0)


def read_labelled(path: Path, score: Rescore, policy: Policy) -> Traffic:
    """The rows of a labelled file with both recorded outcomes, each at every tier of
    ``policy`` (whose budgets predict the tokens); see the module docstring."""
    rows = [row for row in read_seed_rows(path) if _has_outcomes(row.model_correct)]
    if not rows:
        raise DataError(
            f"{path}: no row has labels.correct with both {WEAK_MODEL} and {STRONG_MODEL}:"
            " a labelled file needs recorded outcomes to simulate quality"
        )
    scores = np.clip(np.asarray(score([row.prompt for row in rows]), dtype=np.float64), 0, 1)
    tiers = policy.tiers
    n, count = len(rows), len(tiers)
    weak = np.array([row.model_correct[WEAK_MODEL] for row in rows], dtype=np.float64)
    strong = np.array([row.model_correct[STRONG_MODEL] for row in rows], dtype=np.float64)
    chars = np.array([len(row.prompt) for row in rows], dtype=np.float64)
    columns: dict[str, list[FloatArray]] = {k: [] for k in ("success", "prompt", "out", "think")}
    for index, tier in enumerate(tiers):
        samples = tier.strategy.samples
        columns["success"].append(weak if index == 0 else strong)
        columns["prompt"].append(np.ceil(chars / CHARS_PER_TOKEN) * samples)
        columns["out"].append(np.full(n, float(tier.budget.max_tokens * samples)))
        columns["think"].append(np.full(n, float((tier.budget.budget_tokens or 0) * samples)))
    return Traffic(
        source="data",
        score=np.tile(scores, count),
        tier=np.repeat(np.array([tier.name for tier in tiers], dtype=np.str_), n),
        propensity=np.full(n * count, 1.0 / count),
        success=np.concatenate(columns["success"]),
        prompt_tokens=np.concatenate(columns["prompt"]),
        completion_tokens=np.concatenate(columns["out"]),
        reasoning_tokens=np.concatenate(columns["think"]),
        cost_usd=np.zeros(n * count),
        latency_ms=np.full(n * count, math.nan),
        requests=n,
    )


def _has_outcomes(correct: dict[str, bool]) -> bool:
    return WEAK_MODEL in correct and STRONG_MODEL in correct
