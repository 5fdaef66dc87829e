"""Labels and weights for fitting from logged outcomes (the rows ``training.logs`` reads).

**Censoring.** An outcome is observed only at the tier that served the prompt. Call N the cheapest
tier that would have answered well (tiers are assumed monotone: a tier that succeeds implies every
stronger one would have). Then a success at tier k says N <= k (right-censored) and a failure says
N > k (left-censored). The label is the score's one quantity (``training.labels``): P(the cheapest
tier answers wrong AND a stronger tier answers right). A cheap-tier failure alone is not a gain:
the stronger tiers may fail too. So:

| served at, outcome | what it says | label, weight |
|---|---|---|
| cheapest tier, success | N = 0: escalating gains nothing | 0, w |
| cheapest tier, failure | N >= 1: cheap wrong; strong right with prob. r | r, w |
| higher tier k < top, failure | N > k >= 1: cheap wrong too; the top may recover it | r, w |
| top tier, failure | nothing recovers it | 0, w |
| higher tier k, success | strong right; the cheap outcome is missing | base score b, w / 2 |

``r``, the recovery rate P(a stronger tier right | the cheapest wrong), is estimated from the same
log (``recovery_rate``): with monotone tiers, 1 - (failure rate above the cheapest tier) /
(failure rate at the cheapest), each rate weighted by inverse propensity; without rows at both
(or without cheap failures) it is ``DEFAULT_RECOVERY``. That figure is a *lower bound*: where a
stronger model also fails prompts the cheap one gets right (GPT-4 on 4% of MMLU questions), tiers
are not monotone, and a log that observes one outcome per prompt cannot tell how often. So the
correction (``anchored_recovery``) takes, within [that bound, 1], the rate that keeps the base's
mean score over the logged traffic: the log decides which prompts fail, the base's calibration
(fitted on prompts with both outcomes observed) how often such a failure is recoverable.

The last row of the table is one E-step of EM: its
missing cheap-tier outcome is filled in with the current model's own estimate b, at half weight
because it is a model's guess, not an observation; such rows anchor the candidate on escalated
traffic. A soft label t becomes two rows, class 1 with weight w*t and class 0 with w*(1-t).

**Exploration.** ``w = min(1 / choice_probability, MAX_PROPENSITY_WEIGHT)``: a row that reached
its tier by a random exploration draw of probability p stands for 1/p such prompts
(inverse-propensity weighting), clipped so that one lucky draw cannot dominate a fit, then scaled
to average 1 over the logged rows (self-normalised, as in Hajek's estimator): the weights correct
the mix *within* the logs without changing how much the logs weigh against seed rows, nor the
gate's group priors, which the same weights reach. With exploration off every weight is 1, and
escalated prompts only ever yield censored rows: exploration is what lets logged traffic say
whether an escalation was needed.

**Retraining.** ``training.retrain`` does not refit the base on these labels: it fits a
``classifiers.correction.Correction`` on top of it, where the log's traffic lies. Its estimate is
the expectation of the table for a prompt: P(the cheapest tier fails | prompt), learned from the
rows the cheapest tier served (inverse-propensity weighted; the only rows whose cheap-tier
outcome is observed), times the recovery rate r. ``log_targets`` spells the table out row by row
(``DifficultyEstimator``'s ``y``) for fitting an estimator on logged rows directly.

**Groups.** Logged rows carry no domain; ``gate_groups`` gives each the group the current
model's gate gives it, for summaries.
"""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
import numpy.typing as npt

from classifiers.difficulty import GROUPS, DifficultyEstimator
from training.logs import FloatArray, LabelledLogs

CENSORED_WEIGHT = 0.5
DEFAULT_RECOVERY = 0.5  # on the seed MMLU rows GPT-4 answers 0.52 of the questions Mixtral misses


def gate_groups(estimator: DifficultyEstimator, X: npt.ArrayLike) -> npt.NDArray[np.int64]:
    """The group each row's most likely under ``estimator``'s gate: its ``GROUPS`` index."""
    proba = estimator.predict_groups(X)
    classes = np.asarray(estimator.gate_.classes_, dtype=np.int64)
    return classes[np.argmax(proba, axis=1)] if len(proba) else np.empty(0, dtype=np.int64)


def recovery_rate(logs: LabelledLogs) -> float:
    """P(a stronger tier answers right | the cheapest answered wrong), from the log; see above."""
    weights = logs.weights
    cheap = logs.tier_index == 0
    above = ~cheap
    if not cheap.any() or not above.any():
        return DEFAULT_RECOVERY
    cheap_failure = np.average(~logs.success[cheap], weights=weights[cheap])
    if cheap_failure <= 0:
        return DEFAULT_RECOVERY
    above_failure = np.average(~logs.success[above], weights=weights[above])
    return float(np.clip(1.0 - above_failure / cheap_failure, 0.0, 1.0))


def anchored_recovery(
    lower: float, base_scores: npt.ArrayLike, cheap_failure: npt.ArrayLike, weights: npt.ArrayLike
) -> float:
    """The recovery rate in [``lower``, 1] at which P(the cheapest fails | prompt) times the rate
    has the base's weighted mean score over the same logged rows; see the module docstring."""
    w = np.asarray(weights, dtype=np.float64)
    failure = float(np.average(np.asarray(cheap_failure, dtype=np.float64), weights=w))
    if failure <= 0:
        return float(lower)
    base = float(np.average(np.asarray(base_scores, dtype=np.float64), weights=w))
    return float(np.clip(base / failure, lower, 1.0))


def escalation_target(
    logs: LabelledLogs, base_scores: npt.ArrayLike, top_tier: int, recovery: float
) -> FloatArray:
    """P(cheapest wrong AND a stronger tier right) per row, by the table in the module docstring."""
    base = np.clip(np.asarray(base_scores, dtype=np.float64), 0.0, 1.0)
    cheap = logs.tier_index == 0
    unrecoverable = logs.tier_index >= max(top_tier, 1)
    failure_target = np.where(cheap | ~unrecoverable, recovery, 0.0)
    success_target = np.where(cheap, 0.0, base)
    return np.where(logs.success, success_target, failure_target)


def label_weights(logs: LabelledLogs) -> FloatArray:
    """Inverse-propensity weights, halved for the censored rows (success above the cheapest)."""
    censored = logs.success & (logs.tier_index > 0)
    return np.where(censored, CENSORED_WEIGHT, 1.0) * logs.weights


def log_targets(
    logs: LabelledLogs,
    *,
    base_scores: npt.ArrayLike,
    groups: npt.ArrayLike,
    top_tier: int | None = None,
    recovery: float | None = None,
) -> tuple[npt.NDArray[np.float32], FloatArray, FloatArray]:
    """``(X, y, sample_weight)`` from labelled logged rows, one soft label split in two rows.

    ``base_scores`` and ``groups`` come from the current model (``predict`` and ``gate_groups``);
    ``top_tier`` is the strongest tier's index (default: the highest in the rows); ``recovery``
    defaults to ``recovery_rate(logs)``. Weights average 1 per logged row (before the split of
    soft labels). ``y`` has ``DifficultyEstimator``'s columns: the group, the class (1 or 0) as
    both target and outcome, no topic.
    """
    n = len(logs)
    base = np.asarray(base_scores, dtype=np.float64)
    group = np.asarray(groups, dtype=np.float64)
    if base.shape != (n,) or group.shape != (n,):
        raise ValueError(
            f"need one base score and one group per row ({n});"
            f" got shapes {base.shape} and {group.shape}"
        )
    rows, classes, weights = soft_labels(logs, base, top_tier=top_tier, recovery=recovery)
    y = np.column_stack([group[rows], classes, classes, np.full(rows.size, math.nan)])
    return logs.X[rows], y, weights


def soft_labels(
    logs: LabelledLogs,
    base_scores: npt.ArrayLike,
    *,
    top_tier: int | None = None,
    recovery: float | None = None,
) -> tuple[npt.NDArray[np.intp], FloatArray, FloatArray]:
    """``(rows, classes, weights)``: each logged row's soft label as a class-1 and a class-0 row
    (positions in ``logs``), weights averaging 1 per logged row; see ``log_targets``."""
    n = len(logs)
    top = int(logs.tier_index.max(initial=0)) if top_tier is None else top_tier
    rate = recovery_rate(logs) if recovery is None else recovery
    target = escalation_target(logs, base_scores, top, rate)
    weight = label_weights(logs)
    weight = weight * (n / weight.sum()) if n else weight
    positive, negative = np.flatnonzero(target > 0), np.flatnonzero(target < 1)
    rows = np.concatenate([positive, negative])
    classes = np.concatenate([np.ones(positive.size), np.zeros(negative.size)])
    weights = np.concatenate(
        [weight[positive] * target[positive], weight[negative] * (1 - target[negative])]
    )
    return rows, classes, weights


def describe_groups(groups: npt.ArrayLike) -> dict[str, int]:
    """Row counts by group name, for summaries."""
    counts = Counter(int(g) for g in np.asarray(groups).tolist())
    return {GROUPS[g]: counts[g] for g in sorted(counts)}
