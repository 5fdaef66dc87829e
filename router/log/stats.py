"""What the log says of each tier and model: tokens, cost, latency, success, forecasts.

    rows = tier_stats(store.logged(since, until))      # one TierStats per (tier, model)

Per (tier, model) of the answering step (a cascade's steps count at their own tiers; the
request's feedback is credited to its last step): requests, answered (status ok), prompt and
output tokens (p50), reasoning tokens (p50, p90), cost (total, mean per answered request),
upstream latency (p50, p90, p99), success rate over the requests with an observed outcome
(``training.logs.observed_outcome``: latest verifier, else majority of outcomes, else of rating
signs), control obedience (``router.log.obedience``), and the forecast's error: the median of
``|predicted p50 - observed| / observed`` over answers that carry a forecast and cost something,
the median predicted and observed costs, and the share of observed costs at or below the p90.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

from records import DecisionRecord, Feedback
from router.log.obedience import Obedience, judge
from router.log.store.base import Logged
from training.logs import observed_outcome

__all__ = ["TierStats", "tier_stats"]

OK = "ok"


@dataclass
class _Samples:
    requests: int = 0
    answered: int = 0
    prompt: list[int] = field(default_factory=list)
    output: list[int] = field(default_factory=list)
    reasoning: list[int] = field(default_factory=list)
    cost: list[float] = field(default_factory=list)
    latency: list[float] = field(default_factory=list)
    outcomes: list[bool] = field(default_factory=list)
    predicted: list[float] = field(default_factory=list)
    observed: list[float] = field(default_factory=list)
    within_p90: list[bool] = field(default_factory=list)
    obedience: list[Obedience] = field(default_factory=list)


@dataclass(frozen=True)
class TierStats:
    tier: str
    model: str
    requests: int
    answered: int
    prompt_tokens_p50: float | None
    output_tokens_p50: float | None
    reasoning_tokens_p50: float | None
    reasoning_tokens_p90: float | None
    cost_usd_total: float
    cost_usd_mean: float | None
    latency_ms_p50: float | None
    latency_ms_p90: float | None
    latency_ms_p99: float | None
    outcomes: int
    success_rate: float | None
    obedience_checked: int
    obedience_rate: float | None
    forecasts: int
    forecast_error_median: float | None
    predicted_cost_median: float | None
    observed_cost_median: float | None
    within_p90_share: float | None


def tier_stats(logged: Iterable[Logged]) -> list[TierStats]:
    """One row per (tier, model), in order of first appearance."""
    groups: dict[tuple[str, str], _Samples] = defaultdict(_Samples)
    for entry in logged:
        _add(groups, entry.record, entry.feedback)
    return [_row(tier, model, samples) for (tier, model), samples in groups.items()]


def _add(
    groups: dict[tuple[str, str], _Samples],
    record: DecisionRecord,
    feedback: Iterable[Feedback],
) -> None:
    outcome = _outcome(record, feedback)
    if not record.steps:
        group = groups[(record.tier, record.model)]
        _count(
            group,
            record.status,
            record.prompt_tokens,
            record.completion_tokens,
            record.reasoning_tokens,
            record.cost_usd,
            record.upstream_ms,
        )
        if outcome is not None:
            group.outcomes.append(outcome)
        _forecast(group, record)
        verdict = judge(record)
        if verdict is not None:
            group.obedience.append(verdict)
        return
    for index, step in enumerate(record.steps):
        group = groups[(step.tier, step.model)]
        _count(
            group,
            step.status,
            step.prompt_tokens,
            step.completion_tokens,
            step.reasoning_tokens,
            step.cost_usd,
            step.upstream_ms,
        )
        if index == len(record.steps) - 1 and outcome is not None:
            group.outcomes.append(outcome)
        if index == 0:
            _forecast(group, record, step.cost_usd)


def _count(
    group: _Samples,
    status: str,
    prompt: int,
    completion: int,
    reasoning: int,
    cost: float,
    latency: float | None,
) -> None:
    group.requests += 1
    group.cost.append(cost)
    if status != OK:
        return
    group.answered += 1
    group.prompt.append(prompt)
    group.output.append(completion)
    group.reasoning.append(reasoning)
    if latency is not None:
        group.latency.append(latency)


def _forecast(group: _Samples, record: DecisionRecord, cost: float | None = None) -> None:
    forecast = record.forecast
    observed = record.cost_usd if cost is None else cost
    if record.status != OK or forecast is None or forecast.cost_usd_p50 is None or observed <= 0:
        return
    group.predicted.append(forecast.cost_usd_p50)
    group.observed.append(observed)
    if forecast.cost_usd_p90 is not None:
        group.within_p90.append(observed <= forecast.cost_usd_p90)


def _outcome(record: DecisionRecord, feedback: Iterable[Feedback]) -> bool | None:
    if record.status != OK:
        return None
    return observed_outcome([event for event in feedback if event.step is None])


def _row(tier: str, model: str, s: _Samples) -> TierStats:
    errors = [abs(p - o) / o for p, o in zip(s.predicted, s.observed, strict=True)]
    obeyed = [verdict.obeyed for verdict in s.obedience]
    return TierStats(
        tier=tier,
        model=model,
        requests=s.requests,
        answered=s.answered,
        prompt_tokens_p50=_q(s.prompt, 50),
        output_tokens_p50=_q(s.output, 50),
        reasoning_tokens_p50=_q(s.reasoning, 50),
        reasoning_tokens_p90=_q(s.reasoning, 90),
        cost_usd_total=float(sum(s.cost)),
        cost_usd_mean=float(sum(s.cost)) / s.answered if s.answered else None,
        latency_ms_p50=_q(s.latency, 50),
        latency_ms_p90=_q(s.latency, 90),
        latency_ms_p99=_q(s.latency, 99),
        outcomes=len(s.outcomes),
        success_rate=_share(s.outcomes),
        obedience_checked=len(obeyed),
        obedience_rate=_share(obeyed),
        forecasts=len(errors),
        forecast_error_median=_q(errors, 50),
        predicted_cost_median=_q(s.predicted, 50),
        observed_cost_median=_q(s.observed, 50),
        within_p90_share=_share(s.within_p90),
    )


def _q(values: list[int] | list[float], percent: float) -> float | None:
    return float(np.percentile(values, percent)) if values else None


def _share(flags: list[bool]) -> float | None:
    return sum(flags) / len(flags) if flags else None
