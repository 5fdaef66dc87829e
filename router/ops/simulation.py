"""What-if: a policy re-applied to logged traffic, and two policies side by side.

    result = compare(candidate, current, traffic)    # current also judges the log's support
    print(result.to_dict())

A policy is applied to every row's score (``Policy.choose``): the tier shares follow exactly.
Everything else was only measured at the tier that served each request, so it is estimated
off-policy (``router.ops.estimators``): quality (the share of requests with a successful
outcome), cost per 1,000 requests (each tier's price, from the policy or litellm, times the
tokens the request used there; a tier with no known price is costed at the logged
``cost_usd``), reasoning tokens per 1,000 requests, and latency percentiles (quantiles of the
matching rows weighted by inverse propensity).

Which tiers the log can speak for comes from the policy that wrote it, ``logging`` (the current
policy): with exploration rate r it chose the policy's tier or, with probability r, a
neighbour, so for a row whose score that policy sent to tier k, only tiers k-1, k and k+1 are
supported. ``PRECISION_TARGET`` is the bar an estimate is held to: its 95% interval within 5%
of its value, with no support problem; ``Simulation.verdicts`` says for each figure whether it
holds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from router.decision.policy import Policy
from router.ops.estimators import BOOTSTRAP_RESAMPLES, Estimate, off_policy, weighted_quantile
from router.ops.pricing import request_cost, tier_prices
from router.ops.traffic import Traffic

__all__ = [
    "LABELS",
    "PRECISION_TARGET",
    "PolicyFigures",
    "Simulation",
    "compare",
    "simulate",
    "tiers_of",
]

FloatArray = npt.NDArray[np.float64]
Names = npt.NDArray[np.str_]
PER_1K = 1000.0
PRECISION_TARGET = 0.05
LABELS = {
    "quality": "expected quality",
    "cost_per_1k": "cost per 1k requests",
    "reasoning_tokens_per_1k": "reasoning tokens per 1k",
}
ESTIMATED = tuple(LABELS)


def tiers_of(policy: Policy, score: FloatArray) -> Names:
    """``policy.choose`` for every score at once (a boundary goes to the higher tier)."""
    starts = np.array([tier.band[0] for tier in policy.tiers])
    index = np.clip(np.searchsorted(starts, score, side="right") - 1, 0, len(starts) - 1)
    names = np.array([tier.name for tier in policy.tiers], dtype=np.str_)
    return names[index]


def support_of(traffic: Traffic, logging: Policy | None, target: Names) -> npt.NDArray[np.bool_]:
    """True where the logging policy could have sent the row to ``target``."""
    if traffic.source == "data":
        return np.ones(len(traffic), dtype=bool)
    if logging is None:
        return np.asarray(target == traffic.tier)
    chosen = tiers_of(logging, traffic.score)
    supported = chosen == target
    if traffic.exploration_rate > 0:
        names = [tier.name for tier in logging.tiers]
        position = {name: i for i, name in enumerate(names)}
        chosen_at = np.array([position[str(name)] for name in chosen])
        target_at = np.array([position.get(str(name), -10) for name in target])
        supported |= np.abs(chosen_at - target_at) == 1
    return np.asarray(supported | (target == traffic.tier))


@dataclass(frozen=True)
class PolicyFigures:
    """One policy's figures on the traffic."""

    version: str
    shares: dict[str, float]
    quality: Estimate
    cost_per_1k: Estimate
    reasoning_tokens_per_1k: Estimate
    latency_p50_ms: float
    latency_p95_ms: float
    priced_from_log: tuple[str, ...]

    def estimate(self, name: str) -> Estimate:
        found: Estimate = getattr(self, name)
        return found

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "shares": self.shares,
            **{name: self.estimate(name).to_dict() for name in ESTIMATED},
            "latency_p50_ms": _number(self.latency_p50_ms),
            "latency_p95_ms": _number(self.latency_p95_ms),
            "priced_from_log": list(self.priced_from_log),
        }


def _number(value: float) -> float | None:
    return None if math.isnan(value) else value


def simulate(
    policy: Policy,
    traffic: Traffic,
    logging: Policy | None,
    *,
    resamples: int = BOOTSTRAP_RESAMPLES,
) -> PolicyFigures:
    """``policy``'s figures on ``traffic``, judging support by ``logging``."""
    target = tiers_of(policy, traffic.score)
    support = support_of(traffic, logging, target)
    cost, from_log = _cost(policy, traffic)

    def estimate(value: FloatArray, *, binary: bool) -> Estimate:
        return off_policy(
            value,
            traffic.score,
            traffic.tier,
            traffic.propensity,
            target,
            support,
            binary=binary,
            resamples=resamples,
        )

    weight = (traffic.tier == target) / traffic.propensity
    return PolicyFigures(
        version=policy.version,
        shares={tier.name: float((target == tier.name).mean()) for tier in policy.tiers},
        quality=estimate(traffic.success, binary=True),
        cost_per_1k=estimate(cost, binary=False).scaled(PER_1K),
        reasoning_tokens_per_1k=estimate(traffic.reasoning_tokens, binary=False).scaled(PER_1K),
        latency_p50_ms=weighted_quantile(traffic.latency_ms, weight, 0.5),
        latency_p95_ms=weighted_quantile(traffic.latency_ms, weight, 0.95),
        priced_from_log=from_log,
    )


def _cost(policy: Policy, traffic: Traffic) -> tuple[FloatArray, tuple[str, ...]]:
    """Each row's cost at the tier that served it, priced by ``policy``'s tier of that name."""
    cost = traffic.cost_usd.copy()
    from_log = []
    for name, price in tier_prices(policy).items():
        rows = traffic.tier == name
        if price is None:
            from_log.append(name)
            continue
        cost[rows] = request_cost(
            price, traffic.prompt_tokens[rows], traffic.completion_tokens[rows]
        )
    return cost, tuple(from_log)


@dataclass(frozen=True)
class Simulation:
    """A candidate beside the current policy (if given), on one traffic."""

    candidate: PolicyFigures
    current: PolicyFigures | None
    source: str
    requests: int
    with_outcome: int
    exploration_rate: float
    notes: tuple[str, ...] = field(default=())

    def verdicts(self) -> dict[str, dict[str, Any]]:
        """For each of the candidate's estimated figures: is it precise to ``PRECISION_TARGET``?"""
        verdicts = {}
        for name in ESTIMATED:
            estimate = self.candidate.estimate(name)
            width = estimate.relative_half_width
            holds = estimate.problem is None and width <= PRECISION_TARGET
            verdicts[name] = {
                "within_target": holds,
                "relative_half_width": width if math.isfinite(width) else None,
                "says": _verdict_text(name, estimate, holds),
            }
        return verdicts

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "requests": self.requests,
            "with_outcome": self.with_outcome,
            "exploration_rate": self.exploration_rate,
            "precision_target": PRECISION_TARGET,
            "candidate": self.candidate.to_dict(),
            "current": None if self.current is None else self.current.to_dict(),
            "verdicts": self.verdicts(),
            "notes": list(self.notes),
        }


def _verdict_text(name: str, estimate: Estimate, holds: bool) -> str:
    label = f"candidate {LABELS[name]} (off-policy)"
    if estimate.problem is not None:
        return f"{label}: no reliable estimate: {estimate.problem}"
    if math.isnan(estimate.low):
        return f"{label}: no interval computed (resamples=0)"
    width = estimate.relative_half_width
    bar = f"{PRECISION_TARGET:.0%}"
    if holds:
        return f"{label}: 95% interval within ±{width:.1%}: holds to the {bar} target"
    return f"{label}: 95% interval ±{width:.1%}: does NOT hold to the {bar} target"


def compare(
    candidate: Policy,
    current: Policy | None,
    traffic: Traffic,
    *,
    resamples: int = BOOTSTRAP_RESAMPLES,
) -> Simulation:
    """Both policies on ``traffic``; ``current`` (if given) is taken as the logging policy."""
    notes = _notes(candidate, current, traffic)
    return Simulation(
        candidate=simulate(candidate, traffic, current, resamples=resamples),
        current=None if current is None else simulate(current, traffic, current),
        source=traffic.source,
        requests=traffic.requests,
        with_outcome=round((~np.isnan(traffic.success)).sum() * traffic.requests / len(traffic)),
        exploration_rate=traffic.exploration_rate,
        notes=notes,
    )


def _notes(candidate: Policy, current: Policy | None, traffic: Traffic) -> tuple[str, ...]:
    notes = []
    if traffic.source == "logs" and traffic.exploration_rate == 0:
        notes.append(
            "the log has no exploration (ROUTER_EXPLORATION_RATE=0): only requests on which"
            " both policies agree say anything about the candidate"
        )
    logged_by_other = traffic.source == "logs" and current is not None
    if logged_by_other and current is not None and current.version not in traffic.policy_versions:
        written = ", ".join(traffic.policy_versions)
        notes.append(
            f"the log was written under policy {written}, not {current.version}: support is"
            f" judged as if {current.version} had written it"
        )
    unseen = sorted({tier.name for tier in candidate.tiers} - traffic.tiers_seen)
    if unseen:
        notes.append(f"no logged request was served by tier {', '.join(unseen)}")
    if traffic.not_ok:
        notes.append(f"{traffic.not_ok} failed calls in the log are not simulated")
    if traffic.source == "data":
        notes.append(
            "labelled file: tier 0 takes the weak model's recorded outcome, higher tiers the"
            " strong model's; tokens are each tier's full budget, so cost is an upper bound"
        )
    return tuple(notes)
