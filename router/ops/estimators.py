"""Off-policy estimates: what a deterministic policy would have measured, from a logged policy.

Each logged row i has a score s_i, the tier a_i that served it, the probability p_i that tier
had of being chosen, and a measured value m_i (an outcome, a cost, a token count). A policy
sends the row to tier t_i. Then, averaged over the n rows:

    inverse propensity (self-normalised)   sum_i w_i m_i / sum_i w_i,   w_i = [a_i = t_i] / p_i
    direct (outcome model alone)           mean_i q(t_i, s_i)
    doubly robust                          mean_i q(t_i, s_i) + w_i (m_i - q(a_i, s_i))

where q(t, s) is a simple outcome model per tier on the score: a logistic regression for a
success, a straight line for a cost or a count, a tier's mean when it has few rows. The doubly
robust estimate is unbiased when either the propensities or the outcome model are right, and
has the smaller variance; it is the headline. Its 95% interval is a percentile bootstrap over
the measured rows, refitting the outcome models each time, for *these* requests: the scores
stay fixed, so it says how the figure would have come out had this traffic been served by the
policy (new traffic varies more, with its mix of scores). The effective sample size of the weights,
(sum w)^2 / sum w^2, says how many rows the inverse-propensity estimate really rests on.

The log cannot support an estimate when the policy sends requests to a tier that never served
any logged request, when it sends many to a tier the logging policy could not have chosen for
their score (``support`` false: inverse propensity leaves them out, doubly robust extrapolates),
or when the effective sample size is tiny; ``Estimate.problem`` then says so in words.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = ["Estimate", "TierModel", "off_policy", "weighted_quantile"]

FloatArray = npt.NDArray[np.float64]
Names = npt.NDArray[np.str_]

MIN_MODEL_ROWS = 20  # below this a tier's outcome model is its mean
MIN_EFFECTIVE_ROWS = 50
MAX_UNSUPPORTED = 0.05
BOOTSTRAP_RESAMPLES = 200
CONFIDENCE = 0.95


@dataclass(frozen=True)
class TierModel:
    """q(s) for one tier: ``intercept + slope * s``, through a logistic link when ``binary``."""

    intercept: float
    slope: float
    binary: bool
    rows: int

    @classmethod
    def fit(cls, score: FloatArray, value: FloatArray, *, binary: bool) -> TierModel:
        rows = len(value)
        mean = float(value.mean())
        if rows < MIN_MODEL_ROWS or float(np.ptp(score)) < 1e-9 or float(np.ptp(value)) == 0.0:
            return cls(_logit(mean) if binary else mean, 0.0, binary, rows)
        if binary:
            return cls(*_logistic(score, value), binary=True, rows=rows)
        slope, intercept = np.polyfit(score, value, 1)
        return cls(float(intercept), float(slope), False, rows)

    def predict(self, score: FloatArray) -> FloatArray:
        linear = self.intercept + self.slope * score
        return 1.0 / (1.0 + np.exp(-linear)) if self.binary else linear


def _logit(mean: float) -> float:
    clipped = min(max(mean, 1e-4), 1 - 1e-4)
    return math.log(clipped / (1 - clipped))


def _logistic(score: FloatArray, success: FloatArray) -> tuple[float, float]:
    """Maximum likelihood by Newton steps (two parameters, lightly regularised)."""
    X = np.column_stack([np.ones_like(score), score])
    beta = np.array([_logit(float(success.mean())), 0.0])
    for _ in range(50):
        p = 1.0 / (1.0 + np.exp(-(X @ beta)))
        gradient = X.T @ (success - p) - 1e-3 * beta
        hessian = (X * (p * (1 - p))[:, None]).T @ X + 1e-3 * np.eye(2)
        step = np.linalg.solve(hessian, gradient)
        beta += step
        if float(np.abs(step).max()) < 1e-8:
            break
    return float(beta[0]), float(beta[1])


@dataclass(frozen=True)
class Estimate:
    """One figure of one policy, estimated off-policy; ``value`` is the doubly robust one."""

    value: float
    low: float
    high: float
    ips: float
    direct: float
    effective_rows: float
    rows: int
    matched: int  # rows whose logged tier is the one the policy picks
    unsupported: float  # share of rows sent where the logging policy could not send them
    problem: str | None

    @property
    def relative_half_width(self) -> float:
        """Half the interval as a share of the estimate (inf for an estimate of 0)."""
        if self.value == 0 or math.isnan(self.value):
            return math.inf
        return (self.high - self.low) / 2 / abs(self.value)

    def scaled(self, factor: float) -> Estimate:
        """The same estimate in other units (per 1,000 requests, say)."""
        fields = ("value", "low", "high", "ips", "direct")
        return Estimate(**(asdict(self) | {k: getattr(self, k) * factor for k in fields}))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: NaN and infinity become None."""
        data = asdict(self) | {"relative_half_width": self.relative_half_width}
        return {k: _finite(v) if isinstance(v, float) else v for k, v in data.items()}


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


def off_policy(
    value: FloatArray,
    score: FloatArray,
    logged: Names,
    propensity: FloatArray,
    target: Names,
    support: npt.NDArray[np.bool_],
    *,
    binary: bool,
    resamples: int = BOOTSTRAP_RESAMPLES,
    seed: int = 0,
) -> Estimate:
    """The estimate of ``mean(value)`` had every row gone to ``target``.

    Rows without a value (no outcome) still count in the outcome model's average over all rows;
    only the correction term needs the measured value (missing at random). ``resamples=0``
    skips the interval (NaN bounds), for quick sweeps.
    """
    known = ~np.isnan(value)
    m, s, a, p, t = value[known], score[known], logged[known], propensity[known], target[known]
    if m.size == 0:
        return _unsupported(0, "no logged request has this measurement (no feedback?)")
    unseen = sorted(set(map(str, target)) - set(map(str, a)))
    if unseen:
        share = float(np.isin(target, unseen).mean())
        return _unsupported(
            m.size,
            f"no logged request was served by tier {', '.join(map(repr, unseen))}, where the"
            f" policy sends {share:.1%} of requests: the log cannot support an estimate",
        )
    fit = _DoublyRobust(score, target, binary)
    dr, direct = fit(m, s, a, p, t)
    low, high = _bootstrap(fit, (m, s, a, p, t), resamples, seed)
    weight = (a == t) / p
    ess = float(weight.sum() ** 2 / (weight**2).sum()) if weight.any() else 0.0
    unsupported = float((~support).mean())
    return Estimate(
        value=dr,
        low=low,
        high=high,
        ips=float((weight * m).sum() / weight.sum()) if weight.any() else math.nan,
        direct=direct,
        effective_rows=ess,
        rows=int(m.size),
        matched=int((a == t).sum()),
        unsupported=unsupported,
        problem=_problem(unsupported, ess),
    )


@dataclass(frozen=True)
class _DoublyRobust:
    """The doubly robust estimate over fixed rows (``score``, ``target``), from measured rows."""

    score: FloatArray
    target: Names
    binary: bool

    def __call__(
        self, m: FloatArray, s: FloatArray, a: Names, p: FloatArray, t: Names
    ) -> tuple[float, float]:
        models = {
            str(tier): TierModel.fit(s[a == tier], m[a == tier], binary=self.binary)
            for tier in set(a)
        }
        direct = float(_predict(models, self.target, self.score).mean())
        correction = (a == t) / p * (m - _predict(models, a, s))
        return direct + float(correction.mean()), direct


def _predict(models: dict[str, TierModel], tiers: Names, score: FloatArray) -> FloatArray:
    out = np.full_like(score, math.nan)
    for name, model in models.items():
        rows = tiers == name
        out[rows] = model.predict(score[rows])
    return out


def _bootstrap(
    fit: _DoublyRobust,
    rows: tuple[FloatArray, FloatArray, Names, FloatArray, Names],
    resamples: int,
    seed: int,
) -> tuple[float, float]:
    """Percentile interval over resampled measured rows, refitting the outcome models each
    time; the rows the estimate is for stay fixed (the interval is for these requests)."""
    if resamples == 0:
        return math.nan, math.nan
    rng = np.random.default_rng(seed)
    n = len(rows[0])
    values = []
    for _ in range(resamples):
        pick = rng.integers(0, n, n)
        m, s, a, p, t = rows
        value, _ = fit(m[pick], s[pick], a[pick], p[pick], t[pick])
        values.append(value)
    tail = (1 - CONFIDENCE) / 2 * 100
    finite = np.asarray(values)[~np.isnan(values)]
    if finite.size == 0:
        return math.nan, math.nan
    low, high = np.percentile(finite, [tail, 100 - tail])
    return float(low), float(high)


def _problem(unsupported: float, ess: float) -> str | None:
    if unsupported > MAX_UNSUPPORTED:
        return (
            f"the policy sends {unsupported:.1%} of requests to a tier the logging policy could"
            " not have chosen for their score (exploration only reaches neighbouring tiers):"
            " the log cannot support an estimate there; the doubly robust figure extrapolates"
            " its outcome model, inverse propensity leaves them out"
        )
    if ess < MIN_EFFECTIVE_ROWS:
        return (
            f"only {ess:.0f} effective rows (the policy rarely agrees with the logged choices):"
            " too few for an estimate"
        )
    return None


def _unsupported(rows: int, problem: str) -> Estimate:
    nan = math.nan
    return Estimate(nan, nan, nan, nan, nan, 0.0, rows, 0, 1.0, problem)


def weighted_quantile(values: FloatArray, weights: FloatArray, q: float) -> float:
    """The ``q`` quantile of ``values`` with ``weights`` (NaN when there is nothing to weigh)."""
    keep = ~np.isnan(values) & (weights > 0)
    if not keep.any():
        return math.nan
    order = np.argsort(values[keep])
    ranked, cumulative = values[keep][order], np.cumsum(weights[keep][order])
    return float(ranked[np.searchsorted(cumulative, q * cumulative[-1])])
