"""Labels and weights for fitting from logged outcomes (the rows ``training.logs`` reads).

**Censoring.** An outcome is observed only at the tier that served the prompt. Call N the cheapest
tier that would have answered well (tiers are assumed monotone: a tier that succeeds implies every
stronger one would have). Then a success at tier k says N <= k (right-censored) and a failure says
N > k (left-censored). The score's target is the net gain of escalating, P(cheap tier fails and a
stronger one succeeds); ``DifficultyEstimator`` learns it as the net outcome class {0, +1}:

| served at, outcome | what it says | label: P(class +1), weight |
|---|---|---|
| cheapest tier, success | N = 0: escalating gains nothing | 0, w |
| cheapest tier, failure | N >= 1: what escalation exists to fix | 1, w |
| higher tier k, failure | N > k >= 1: the cheap tier failed too | 1, w (0 at the top tier) |
| higher tier k, success | N <= k: the cheap outcome is missing | base score b, w / 2 |

A failure at the top tier is labelled 0: no tier recovers it, and test-time compute cannot
supply what the strongest model lacks. The last row is one E-step of EM: its missing cheap-tier
outcome is filled in with the current model's own estimate b, as a soft label (the row is split
into a +1 part of weight w*b and a 0 part of weight w*(1-b)), at half weight because it is a
model's guess, not an observation. These rows carry little new information, but they anchor the
candidate on escalated traffic: without them only cheap-tier rows (low-scored by construction)
would teach it, and its scores for the prompts it escalates could drift anywhere.

**Exploration.** ``w = min(1 / choice_probability, MAX_PROPENSITY_WEIGHT)``: a row that reached
its tier by a random exploration draw of probability p stands for 1/p such prompts
(inverse-propensity weighting), clipped so that one lucky draw cannot dominate a fit, then scaled
to average 1 over the logged rows (self-normalised, as in Hajek's estimator): the weights correct
the mix *within* the logs without changing how much the logs weigh against seed rows, nor the
gate's group priors, which the same weights reach. With exploration off every weight is 1, and
escalated prompts only ever yield censored rows: exploration is what lets logged traffic say
whether an escalation was needed.

**Groups.** Logged rows carry no domain, so each takes the group the current model's gate gives
it (the argmax of ``predict_groups``), and no topic. They train a group through its outcome expert,
so ``training.retrain`` sets aside the logged rows of a group until it has enough rows with
outcomes (``MIN_OUTCOME_ROWS``, the seed's included) to fit one.
"""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
import numpy.typing as npt

from classifiers.difficulty import GROUPS, DifficultyEstimator
from training.logs import FloatArray, LabelledLogs

CENSORED_WEIGHT = 0.5


def gate_groups(estimator: DifficultyEstimator, X: npt.ArrayLike) -> npt.NDArray[np.int64]:
    """The group each row's most likely under ``estimator``'s gate: its ``GROUPS`` index."""
    proba = estimator.predict_groups(X)
    classes = np.asarray(estimator.gate_.classes_, dtype=np.int64)
    return classes[np.argmax(proba, axis=1)] if len(proba) else np.empty(0, dtype=np.int64)


def escalation_target(logs: LabelledLogs, base_scores: npt.ArrayLike, top_tier: int) -> FloatArray:
    """P(net outcome class +1) per row, by the table in the module docstring."""
    base = np.clip(np.asarray(base_scores, dtype=np.float64), 0.0, 1.0)
    cheap = logs.tier_index == 0
    unrecoverable = logs.tier_index >= max(top_tier, 1)
    failure_target = np.where(cheap | ~unrecoverable, 1.0, 0.0)
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
) -> tuple[npt.NDArray[np.float32], FloatArray, FloatArray]:
    """``(X, y, sample_weight)`` for ``DifficultyEstimator.fit`` from labelled logged rows.

    ``base_scores`` and ``groups`` come from the current model (``predict`` and ``gate_groups``);
    ``top_tier`` is the strongest tier's index (default: the highest in the rows). Weights
    average 1 per logged row (before the split of soft labels). A soft label
    becomes two rows, class +1 and class 0, whose weights split the row's weight; ``y``'s gain
    column repeats the class, so a ridge expert sees the same soft target. Topics are NaN.
    """
    n = len(logs)
    base = np.asarray(base_scores, dtype=np.float64)
    group = np.asarray(groups, dtype=np.float64)
    if base.shape != (n,) or group.shape != (n,):
        raise ValueError(
            f"need one base score and one group per row ({n});"
            f" got shapes {base.shape} and {group.shape}"
        )
    top = int(logs.tier_index.max(initial=0)) if top_tier is None else top_tier
    target = escalation_target(logs, base, top)
    weight = label_weights(logs)
    weight = weight * (n / weight.sum()) if n else weight
    positive, negative = np.flatnonzero(target > 0), np.flatnonzero(target < 1)
    rows = np.concatenate([positive, negative])
    classes = np.concatenate([np.ones(positive.size), np.zeros(negative.size)])
    weights = np.concatenate(
        [weight[positive] * target[positive], weight[negative] * (1 - target[negative])]
    )
    y = np.column_stack([group[rows], classes, classes, np.full(rows.size, math.nan)])
    return logs.X[rows], y, weights


def describe_groups(groups: npt.ArrayLike) -> dict[str, int]:
    """Row counts by group name, for summaries."""
    counts = Counter(int(g) for g in np.asarray(groups).tolist())
    return {GROUPS[g]: counts[g] for g in sorted(counts)}
