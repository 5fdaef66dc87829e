"""The cost-quality curve: what moving every band edge together buys, with two policies marked.

    points = curve_points(current, traffic)      # [(cost per 1k, quality, gamma)], cheap first
    write_curve_png(Path("curve.png"), points, {"current": current_figs, "candidate": cand_figs})

The curve is ``tuning.family`` through the current policy: each boundary's quantile q moved to
q^gamma, so gamma < 1 sends traffic to cheaper tiers and gamma > 1 to dearer ones. Each point
is a doubly robust estimate (no interval, for speed); the marked policies carry their 95%
intervals as error bars. Drawn with matplotlib's Agg backend, so no display is needed.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from router.decision.policy import Policy
from router.ops.simulation import PolicyFigures, simulate, tiers_of
from router.ops.traffic import Traffic
from router.ops.tuning import GAMMAS, family, quantile_positions

__all__ = ["CurvePoint", "curve_points", "write_curve_png"]


@dataclass(frozen=True)
class CurvePoint:
    cost_per_1k: float
    quality: float
    gamma: float


def curve_points(
    policy: Policy, traffic: Traffic, logging: Policy | None = None
) -> list[CurvePoint]:
    """The family through ``policy``'s shares on ``traffic``, as (cost, quality) points."""
    chosen = tiers_of(policy, traffic.score)
    shares = {tier.name: float((chosen == tier.name).mean()) for tier in policy.tiers}
    positions = quantile_positions(shares, policy)
    points = []
    for gamma, member in zip(GAMMAS, family(policy, traffic, positions), strict=True):
        figures = simulate(member, traffic, logging or policy, resamples=0)
        cost, quality = figures.cost_per_1k.value, figures.quality.value
        if not math.isnan(cost + quality):
            points.append(CurvePoint(cost, quality, gamma))
    return sorted(points, key=lambda point: point.cost_per_1k)


def write_curve_png(
    path: Path, points: list[CurvePoint], marked: Mapping[str, PolicyFigures]
) -> Path:
    """A PNG of ``points`` with each of ``marked`` as a labelled point with error bars."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(7, 4.5), dpi=110)
    try:
        axes.plot(
            [p.cost_per_1k for p in points],
            [p.quality for p in points],
            color="#888",
            marker=".",
            label="all band edges moved together",
        )
        for (label, figures), colour in zip(marked.items(), ("#1f77b4", "#d62728"), strict=False):
            cost, quality = figures.cost_per_1k, figures.quality
            axes.errorbar(
                cost.value,
                quality.value,
                xerr=_bar(cost.value, cost.low, cost.high),
                yerr=_bar(quality.value, quality.low, quality.high),
                fmt="o",
                color=colour,
                capsize=3,
                label=f"{label} ({figures.version})",
            )
        axes.set_xlabel("cost per 1,000 requests (USD)")
        axes.set_ylabel("expected quality (share of successful outcomes)")
        axes.set_title("Cost and quality on the logged traffic (doubly robust estimates)")
        axes.grid(alpha=0.3)
        axes.legend(loc="lower right", fontsize=8)
        figure.tight_layout()
        path.parent.mkdir(parents=True, exist_ok=True)
        figure.savefig(path)
    finally:
        plt.close(figure)
    return path


def _bar(value: float, low: float, high: float) -> list[list[float]] | None:
    if math.isnan(low) or math.isnan(high):
        return None
    return [[max(value - low, 0.0)], [max(high - value, 0.0)]]
