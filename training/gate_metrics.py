"""What the promotion gate measures: the held-out cheap-tier rows, each model's metrics on them
(AUROC, ECE, cost to recover the failures, the policy's first band edge), and the gate's
settings. ``training.gate`` explains the metrics and decides."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from training import metrics
from training.logs import LabelledLogs, TierUsage

if TYPE_CHECKING:
    pass


FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class GateConfig:
    tolerance: float = 0.02
    ece_tolerance: float = 0.02
    cost_tolerance: float = 0.05  # relative to the base's cost
    min_auroc_gain: float = 0.0
    auroc_confidence: float = 0.9
    resamples: int = 200
    recovery_target: float = 0.8
    min_cheap_rows: int = 20
    min_guard_rows: int = 30
    bins: int = 10


@dataclass(frozen=True)
class EscalationCost:
    """What a cheap request and an escalated one cost on average, from the export."""

    cheap: float
    escalated: float
    unit: str

    @classmethod
    def from_tiers(cls, tiers: Sequence[TierUsage]) -> EscalationCost:
        cheap = [t for t in tiers if t.index == 0]
        above = [t for t in tiers if t.index > 0]
        rows_above = sum(t.rows for t in above)
        if cheap and rows_above:
            escalated = sum(t.mean_cost_usd * t.rows for t in above) / rows_above
            if escalated > cheap[0].mean_cost_usd:
                return cls(cheap[0].mean_cost_usd, escalated, "USD per 1k requests")
        return cls(0.0, 1.0, "escalations per 1k requests")

    def per_thousand(self, share: float) -> float:
        return 1000 * (self.cheap + share * (self.escalated - self.cheap))


@dataclass(frozen=True)
class HeldOut:
    """The held-out rows the gate metrics use: those served at the cheapest tier."""

    failed: npt.NDArray[np.bool_]
    weights: FloatArray
    index: npt.NDArray[np.intp]  # positions in the held-out slice

    @classmethod
    def from_logs(cls, logs: LabelledLogs) -> HeldOut:
        index = np.flatnonzero(logs.tier_index == 0)
        return cls(~logs.success[index], logs.weights[index], index)

    @property
    def n(self) -> int:
        return int(self.index.size)

    @property
    def failures(self) -> int:
        return int(self.failed.sum())


@dataclass(frozen=True)
class LogMetrics:
    """One model's gate metrics on the held-out cheap-tier rows; ``None`` where undefined."""

    n: int
    failures: int
    auroc: float | None
    ece: float | None
    share: float | None
    cost: float | None
    policy_escalation: float | None
    policy_recovered: float | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def log_metrics(
    held: HeldOut,
    scores: npt.ArrayLike,
    *,
    cost: EscalationCost,
    config: GateConfig = GateConfig(),
    threshold: float | None = None,
) -> LogMetrics:
    """``scores``: one per row of the held-out slice (all tiers); see the module docstring."""
    score = np.asarray(scores, dtype=np.float64)[held.index]
    enough = held.n >= config.min_cheap_rows and 0 < held.failures < held.n
    auroc = metrics.auroc(held.failed, score, weights=held.weights) if enough else math.nan
    ece = (
        metrics.expected_calibration_error(
            held.failed, score, weights=held.weights, bins=config.bins
        )
        if enough
        else math.nan
    )
    share = (
        metrics.share_to_recover(
            score, held.failed, target=config.recovery_target, weights=held.weights
        )
        if enough
        else math.nan
    )
    escalation, recovered = _at_threshold(held, score, threshold)
    return LogMetrics(
        n=held.n,
        failures=held.failures,
        auroc=_defined(auroc),
        ece=_defined(ece),
        share=_defined(share),
        cost=None if math.isnan(share) else cost.per_thousand(share),
        policy_escalation=escalation,
        policy_recovered=recovered,
    )


def _at_threshold(
    held: HeldOut, score: FloatArray, threshold: float | None
) -> tuple[float | None, float | None]:
    if threshold is None or held.n == 0:
        return None, None
    escalate = score >= threshold
    share = float(np.sum(held.weights * escalate) / np.sum(held.weights))
    failed = held.weights * held.failed
    caught = float(np.sum(failed * escalate) / np.sum(failed)) if failed.sum() > 0 else None
    return share, caught


def _defined(value: float) -> float | None:
    return None if math.isnan(value) else float(value)
