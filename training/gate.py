"""The promotion gate: does a retrained candidate beat the serving model on fresh traffic?

Both models score the same held-out slice of logged decisions (the most recent ones with an
observed outcome, never trained on). The gate metrics use the held-out rows **served at the
cheapest tier**: the only rows whose cheap-tier outcome is observed, so "the cheap tier failed"
is a fact there, not an inference. Each row counts with its inverse-propensity weight
(``training.logs``), so rows that exploration sent to the cheap tier stand for the prompts the
policy would not have sent there.

- **AUROC** of the score for "the cheap tier failed" (↑). How well the score ranks the prompts
  that needed escalating above those that did not.
- **ECE**, expected calibration error over 10 equal-width score bins, of the score against the
  observed cheap-tier failure (↓). The score is the *net* gain (cheap fails and a stronger tier
  succeeds), so on prompts that no tier can answer it sits below the failure rate by design;
  both models carry that offset, and the gate compares them, not either with zero.
- **Cost to recover 80% of the failures** (↓): escalate the cheap-tier prompts highest score
  first until 80% of the (weighted) failures are escalated; assume an escalated failure is
  recovered. The share escalated is a CPT (``training.metrics.share_to_recover``); its price per
  1,000 requests is ``1000 * (cheap + share * (escalated - cheap))``, where ``cheap`` is the mean
  ``cost_usd`` of the cheapest tier's requests in the export and ``escalated`` the mean over
  every request served above it (what an escalation costs under the current policy). Without
  cost data the figure is escalations per 1,000 requests.
- Information only: the share the policy's first band edge would escalate, and the share of
  failures it would catch.

**Rule.** Promote only if

- the candidate's AUROC is higher than the base's (by more than ``min_auroc_gain``) *and reliably
  so*: in at least ``auroc_confidence`` (90%) of paired bootstrap resamples of the held-out rows
  (Poisson weights, 200 resamples, fixed seed), since on a hundred rows two models of equal skill
  differ by a few hundredths either way;
- its ECE is not higher by more than ``ece_tolerance`` (0.02);
- its cost is not higher by more than ``cost_tolerance`` (5%, relative);
- no other reported metric (the seed validation report: APGR, CPT, Spearman with MATH level and
  with RouterBench failures, the domain AUROCs) is worse by more than ``tolerance`` (0.02). A
  metric measured on fewer than ``min_guard_rows`` (30) rows is shown but not enforced: on a
  dozen rows an AUROC moves by tenths at random.

Too few held-out cheap-tier rows (``min_cheap_rows``), or no failures or no successes among them,
means no evidence, and the candidate is kept out.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import numpy.typing as npt

from training.evaluate import EvaluationReport

if TYPE_CHECKING:
    pass

from training.gate_metrics import FloatArray, GateConfig, HeldOut, LogMetrics

Kind = Literal["gate", "guard", "info"]


@dataclass(frozen=True)
class GateRow:
    """One metric of both models; ``verdict`` is better / within tolerance / worse / n/a."""

    metric: str
    kind: Kind
    n: int
    base: float | None
    candidate: float | None
    delta: float | None
    tolerance: float | None
    higher_is_better: bool | None
    verdict: str
    ok: bool


@dataclass(frozen=True)
class GateDecision:
    passed: bool
    reason: str
    base_version: str
    candidate_version: str
    rows: tuple[GateRow, ...]
    notes: tuple[str, ...] = ()

    def row(self, metric: str) -> GateRow:
        for row in self.rows:
            if row.metric == metric:
                return row
        raise KeyError(metric)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "rows": [asdict(row) for row in self.rows]}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> GateDecision:
        return cls(
            passed=bool(data["passed"]),
            reason=str(data["reason"]),
            base_version=str(data["base_version"]),
            candidate_version=str(data["candidate_version"]),
            rows=tuple(GateRow(**row) for row in data["rows"]),
            notes=tuple(data.get("notes", ())),
        )


AUROC, ECE, COST = "auroc_cheap_tier_fails", "ece_cheap_tier_fails", "cost_to_recover"
AUROC_WINS = "auroc_bootstrap_win_share"


def auroc_win_share(
    held: HeldOut,
    base_scores: npt.ArrayLike,
    candidate_scores: npt.ArrayLike,
    *,
    resamples: int = 200,
    seed: int = 0,
) -> float | None:
    """Share of paired bootstrap resamples in which the candidate's AUROC beats the base's.

    Poisson(1) bootstrap weights multiply the rows' own weights, so the score order of each
    model is sorted once and every resample costs one pass over the rows.
    """
    if held.n == 0 or not 0 < held.failures < held.n:
        return None
    base = _SortedScores(np.asarray(base_scores, dtype=np.float64)[held.index], held.failed)
    candidate = _SortedScores(
        np.asarray(candidate_scores, dtype=np.float64)[held.index], held.failed
    )
    rng = np.random.default_rng(seed)
    wins = total = 0
    for _ in range(resamples):
        weights = held.weights * rng.poisson(1.0, size=held.n)
        before, after = base.auroc(weights), candidate.auroc(weights)
        if math.isnan(before) or math.isnan(after):
            continue
        wins += after > before
        total += 1
    return wins / total if total else None


class _SortedScores:
    """One model's held-out scores in ascending order, cut into blocks of equal score."""

    def __init__(self, scores: FloatArray, failed: npt.NDArray[np.bool_]) -> None:
        self.order = np.argsort(scores, kind="stable")
        ranked = scores[self.order]
        self.starts = np.flatnonzero(np.concatenate([[True], ranked[1:] != ranked[:-1]]))
        self.failed = failed[self.order]

    def auroc(self, weights: FloatArray) -> float:
        """Weighted AUROC, ties counting one half: sum over failures of the weight of
        successes scored below them (plus half of those tied), over the product of totals."""
        w = weights[self.order]
        positive = np.add.reduceat(w * self.failed, self.starts)
        negative = np.add.reduceat(w * ~self.failed, self.starts)
        below = np.cumsum(negative) - negative
        pairs = positive.sum() * negative.sum()
        if pairs == 0:
            return math.nan
        return float(np.sum(positive * (below + negative / 2)) / pairs)


def decide(
    *,
    base_version: str,
    candidate_version: str,
    base: LogMetrics,
    candidate: LogMetrics,
    cost_unit: str,
    win_share: float | None = None,
    base_seed: EvaluationReport | None = None,
    candidate_seed: EvaluationReport | None = None,
    config: GateConfig = GateConfig(),
    notes: Sequence[str] = (),
) -> GateDecision:
    """Apply the rule in the module docstring to both models' metrics."""
    target = f"{config.recovery_target:.0%}"
    auroc = _row(AUROC, "gate", base.n, base.auroc, candidate.auroc, True, config.min_auroc_gain)
    if auroc.ok and (win_share is None or win_share < config.auroc_confidence):
        auroc = replace(auroc, verdict="not reliably better", ok=False)
    rows = [
        auroc,
        _info(AUROC_WINS, base.n, None, win_share),
        _row(ECE, "gate", base.n, base.ece, candidate.ece, False, config.ece_tolerance),
        _row(
            f"{COST}_{target}[{cost_unit}]",
            "gate",
            base.n,
            base.cost,
            candidate.cost,
            False,
            None if base.cost is None else config.cost_tolerance * base.cost,
        ),
        _info(f"escalation_share_to_recover_{target}", base.n, base.share, candidate.share),
        _info(
            "policy_escalation_share", base.n, base.policy_escalation, candidate.policy_escalation
        ),
        _info("policy_recovered_share", base.n, base.policy_recovered, candidate.policy_recovered),
        *_seed_rows(base_seed, candidate_seed, config),
    ]
    passed = all(row.ok for row in rows)
    return GateDecision(
        passed=passed,
        reason=_reason(rows, base, passed, config),
        base_version=base_version,
        candidate_version=candidate_version,
        rows=tuple(rows),
        notes=tuple(notes),
    )


def _row(
    metric: str,
    kind: Kind,
    n: int,
    base: float | None,
    candidate: float | None,
    higher_is_better: bool,
    tolerance: float | None,
) -> GateRow:
    delta = None if base is None or candidate is None else candidate - base
    verdict, ok = _verdict(metric, kind, delta, higher_is_better, tolerance or 0.0)
    return GateRow(
        metric=metric,
        kind=kind,
        n=n,
        base=base,
        candidate=candidate,
        delta=delta,
        tolerance=tolerance,
        higher_is_better=higher_is_better,
        verdict=verdict,
        ok=ok,
    )


def _verdict(
    metric: str, kind: Kind, delta: float | None, higher_is_better: bool, allowed: float
) -> tuple[str, bool]:
    if delta is None:
        return "n/a", kind != "gate"  # a gate metric must be measurable; a guard may be absent
    gain = delta if higher_is_better else -delta
    if metric == AUROC:
        return ("better", True) if gain > allowed else ("not better", False)
    if gain > 0:
        return "better", True
    if gain >= -allowed:
        return "within tolerance", True
    return "worse", False


def _info(metric: str, n: int, base: float | None, candidate: float | None) -> GateRow:
    delta = None if base is None or candidate is None else candidate - base
    return GateRow(metric, "info", n, base, candidate, delta, None, None, "", True)


def _seed_rows(
    base: EvaluationReport | None, candidate: EvaluationReport | None, config: GateConfig
) -> list[GateRow]:
    if base is None or candidate is None:
        return []
    rows = []
    for metric in candidate.metrics:
        if metric.higher_is_better is None:
            continue
        row = _row(
            f"seed:{metric.name}",
            "guard",
            metric.n,
            base.metric(metric.name).model,
            metric.model,
            metric.higher_is_better,
            config.tolerance,
        )
        if row.delta is not None and metric.n < config.min_guard_rows:
            row = replace(
                row, verdict=f"{row.verdict} (n < {config.min_guard_rows}: not enforced)", ok=True
            )
        rows.append(row)
    return rows


def _reason(rows: Sequence[GateRow], base: LogMetrics, passed: bool, config: GateConfig) -> str:
    auroc = rows[0]
    if auroc.base is None or auroc.candidate is None:
        return (
            f"refused: no evidence on fresh traffic: {base.n} held-out rows were served at the"
            f" cheapest tier with {base.failures} failures; the gate needs at least"
            " a few of both (raise the export window, the feedback rate or exploration)"
        )
    if passed:
        return (
            f"passed: on held-out traffic AUROC rose {auroc.base:.3f} → {auroc.candidate:.3f}"
            f" (n={auroc.n}), calibration and cost to recover failures are within tolerance,"
            " and no other metric is worse beyond its tolerance"
        )
    problems = [_problem(row, rows[1].candidate, config) for row in rows if not row.ok]
    return "refused: " + "; ".join(problems)


def _problem(row: GateRow, wins: float | None, config: GateConfig) -> str:
    change = f"{format_value(row.base)} → {format_value(row.candidate)}"
    if row.metric == AUROC and row.verdict == "not reliably better":
        return (
            f"AUROC on held-out traffic rose ({change}) but only in {format_value(wins)} of"
            f" bootstrap resamples (needs {config.auroc_confidence:.2f})"
        )
    if row.metric == AUROC:
        return f"AUROC on held-out traffic did not rise ({change})"
    if row.verdict == "n/a":
        return f"{row.metric} is undefined for one model"
    size = abs(row.delta or 0.0)
    direction = "rose" if (row.delta or 0.0) > 0 else "fell"
    tolerance = format_value(row.tolerance)
    return f"{row.metric} {direction} by {size:.3f} ({change}, tolerance {tolerance})"


def format_value(value: float | None, *, signed: bool = False) -> str:
    """A metric as tables and reasons print it: three decimals, ``n/a`` when undefined."""
    if value is None:
        return "n/a"
    return f"{value:+.3f}" if signed else f"{value:.3f}"
