"""Band edges for a target: a traffic share per tier, a cost ceiling, or a quality floor.

    shares = parse_shares("fast=0.5,standard=0.3,reasoning=0.15,deep=0.05", policy)
    tuned = with_edges(policy, edges_for_shares(traffic.score, shares, policy))
    tuned = tune(policy, traffic, shares=None, max_cost_per_1k=2.0, min_quality=None)

A target share per tier is one quantile per boundary (RouteLLM's calibration): the edge between
tier k and k+1 sits halfway between the scores that rank just below and just above the share of
tiers up to k, so the simulated shares match the targets up to ties in the scores. A cost
ceiling or a quality floor searches a one-parameter family through a starting point (the target
shares, or the current policy's shares on the traffic): every boundary's quantile q moves to
q^gamma, gamma from 1/8 (nearly everything to the cheapest tier) to 8 (nearly everything to
the dearest), and each member is simulated. The floor picks the cheapest member that meets it,
the ceiling the best member under it (both: the cheapest meeting both).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from router.decision.policy import Policy
from router.errors import SimulationError
from router.ops.simulation import PolicyFigures, simulate, tiers_of
from router.ops.traffic import Traffic

__all__ = [
    "Tuned",
    "edges_for_shares",
    "family",
    "parse_shares",
    "quantile_positions",
    "tune",
    "with_edges",
]

FloatArray = npt.NDArray[np.float64]
GAMMAS = tuple(float(g) for g in np.geomspace(1 / 8, 8, 41))
EDGE_DECIMALS = 6
MIN_GAP = 10.0**-EDGE_DECIMALS


def parse_shares(text: str, policy: Policy) -> dict[str, float]:
    """``"fast=0.5,standard=0.5"`` as shares naming every tier of ``policy``, summing to 1."""
    shares: dict[str, float] = {}
    for part in filter(None, (piece.strip() for piece in text.split(","))):
        name, sep, value = part.partition("=")
        try:
            share = float(value) if sep else math.nan
        except ValueError:
            share = math.nan
        if not 0.0 <= share <= 1.0:
            raise SimulationError(f"share {part!r}: write tier=share with a share in [0, 1]")
        shares[name.strip()] = share
    names = [tier.name for tier in policy.tiers]
    if set(shares) != set(names):
        raise SimulationError(
            f"shares name {', '.join(shares) or 'no tier'}; the policy's tiers are"
            f" {', '.join(names)}: give a share for each"
        )
    if not math.isclose(sum(shares.values()), 1.0, abs_tol=1e-6):
        raise SimulationError(f"shares add up to {sum(shares.values()):g}, not 1")
    return {name: shares[name] for name in names}


def quantile_positions(shares: Mapping[str, float], policy: Policy) -> list[float]:
    """The cumulative share below each boundary, cheapest first."""
    cumulative = np.cumsum([shares[tier.name] for tier in policy.tiers])
    return [float(q) for q in cumulative[:-1]]


def edges_for_shares(score: FloatArray, positions: Sequence[float]) -> list[float]:
    """Boundaries that put a share ``positions[k]`` of ``score`` below boundary k."""
    ranked = np.sort(score)
    n = len(ranked)
    edges = []
    for q in positions:
        k = min(max(round(q * n), 0), n)
        below = ranked[k - 1] if k > 0 else 0.0
        above = ranked[k] if k < n else 1.0
        edges.append(round(float(below + above) / 2, EDGE_DECIMALS))
    return _spread(edges)


def _spread(edges: list[float]) -> list[float]:
    """Strictly increasing edges inside (0, 1): a band needs some width."""
    out: list[float] = []
    for edge in edges:
        low = out[-1] + MIN_GAP if out else MIN_GAP
        out.append(round(float(min(max(edge, low), 1.0 - MIN_GAP * (len(edges) - len(out)))), 6))
    return out


def with_edges(policy: Policy, edges: Sequence[float], version: str | None = None) -> Policy:
    """``policy`` with its inner boundaries at ``edges`` (one fewer than tiers)."""
    if len(edges) != len(policy.tiers) - 1:
        raise SimulationError(f"{len(edges)} edges for {len(policy.tiers)} tiers")
    bounds = [0.0, *edges, 1.0]
    tiers = [
        tier.model_copy(update={"band": (bounds[i], bounds[i + 1])})
        for i, tier in enumerate(policy.tiers)
    ]
    data = {"version": version or policy.version, "tiers": tiers}
    return Policy.model_validate(data)


def family(policy: Policy, traffic: Traffic, positions: Sequence[float]) -> list[Policy]:
    """Policies with each boundary's quantile q moved to q^gamma, for every gamma in GAMMAS."""
    return [
        with_edges(policy, edges_for_shares(traffic.score, [q**gamma for q in positions]))
        for gamma in GAMMAS
    ]


@dataclass(frozen=True)
class Tuned:
    policy: Policy
    figures: PolicyFigures
    target: str


def tune(
    policy: Policy,
    traffic: Traffic,
    *,
    shares: Mapping[str, float] | None = None,
    max_cost_per_1k: float | None = None,
    min_quality: float | None = None,
    logging: Policy | None = None,
    version: str | None = None,
) -> Tuned:
    """The tuned policy and its simulated figures; ``SimulationError`` when no member of the
    searched family meets the targets."""
    version = version or f"{policy.version}-tuned"
    logging = logging or policy
    start = shares if shares is not None else _shares_on(policy, traffic)
    positions = quantile_positions(start, policy)
    target = "shares " + ", ".join(f"{name}={share:.3g}" for name, share in start.items())
    if max_cost_per_1k is None and min_quality is None:
        tuned = with_edges(policy, edges_for_shares(traffic.score, positions), version)
        return Tuned(tuned, simulate(tuned, traffic, logging), target)
    members = [
        (member, simulate(member, traffic, logging, resamples=0))
        for member in family(policy, traffic, positions)
    ]
    chosen = _pick(members, max_cost_per_1k, min_quality)
    tuned = with_edges(policy, [tier.band[1] for tier in chosen.tiers[:-1]], version)
    goals = [f"cost per 1k <= {max_cost_per_1k:g}"] if max_cost_per_1k is not None else []
    goals += [f"quality >= {min_quality:g}"] if min_quality is not None else []
    return Tuned(tuned, simulate(tuned, traffic, logging), " and ".join(goals))


def _shares_on(policy: Policy, traffic: Traffic) -> dict[str, float]:
    chosen = tiers_of(policy, traffic.score)
    return {tier.name: float((chosen == tier.name).mean()) for tier in policy.tiers}


def _pick(
    members: Sequence[tuple[Policy, PolicyFigures]],
    max_cost: float | None,
    min_quality: float | None,
) -> Policy:
    def cost(figures: PolicyFigures) -> float:
        return figures.cost_per_1k.value

    def quality(figures: PolicyFigures) -> float:
        return figures.quality.value

    usable = [(p, f) for p, f in members if not math.isnan(cost(f) + quality(f))]
    meets = [
        (p, f)
        for p, f in usable
        if (max_cost is None or cost(f) <= max_cost)
        and (min_quality is None or quality(f) >= min_quality)
    ]
    if not meets:
        cheapest = min((cost(f) for _, f in usable), default=math.nan)
        best = max((quality(f) for _, f in usable), default=math.nan)
        raise SimulationError(
            "no band edges in the searched range meet the target: on this traffic the cheapest"
            f" costs {cheapest:.4g} per 1k requests and the best reaches quality {best:.3f}"
        )
    if min_quality is not None:
        return min(meets, key=lambda pf: cost(pf[1]))[0]
    return max(meets, key=lambda pf: quality(pf[1]))[0]
