"""Labelling rules: each seed row's target, in the score's one unit.

**The score** estimates, for a prompt, the probability that *the cheapest tier's setting (a cheap
model, no thinking) answers wrong AND a stronger model or a bigger thinking budget answers right*:
"weak wrong, strong right". A prompt every model solves gains nothing (0); so does a prompt no
model solves. Every label below estimates that one quantity; with graded outcomes (pass rates,
gold-option probabilities, judge grades) a row's label is ``(1 - p_weak) * p_strong``, the
probability under independent samples given the prompt, where ``p_weak`` is the chance that the
source's cheap models answer right and ``p_strong`` that its strong models (or settings) do. The
models standing for "weak" and "strong" are named per source in ``training.label_tables``.

Rules, richest signal first (``RowTarget.rule`` records which one made each target):

- ``observed`` (0/1 per-model outcomes):
  - ``outcome`` (a user's own rows, ``training.user_data``): ``outcome_gain(weak, strong)``, each
    a true/false outcome or a graded score in [0, 1]. When both are true/false the row also has
    its net outcome class ``strong - weak``, as the MMLU rows do.
  - MMLU ``correct``: 1 if Mixtral-8x7B is wrong and GPT-4 right, else 0. The row also keeps the
    net class (GPT-4 minus Mixtral, -1/0/+1), by which the knowledge expert ranks prompts before
    calibrating to this target, and the MMLU subject (``topic``): how much GPT-4 helps varies
    more between subjects than within one.
  - RouterBench ``rb11_correct``: ``p_weak`` is the share of the eight cheaper models that answer
    right, ``p_strong`` is 1 if any of GPT-4, Claude v2 or Claude v1 does. Every model failing is 0.
- ``graded`` (probabilities and grades):
  - ``rdc7_scores`` (GSM8K, HumanEval, ARC-Easy; seven ~7B models): the seven's mean failure
    (1 - pass rate; on multiple choice, the share with gold probability 0) is rescaled so that
    its mean over the source equals the published failure rate of a Mixtral-8x7B-class cheap
    model (``RDC7_ACCURACY``): the seven rank the prompts, the cheap tier sets the level. The
    data has no strong-model outcome here, so ``p_strong = 1 - c * (1 - p_weak)``: the strong
    model (GPT-4 class, published accuracy) fails where the cheap one fails, in proportion
    ``c = strong failure / cheap failure``. So the label is monotone in the seven's failures and
    its mean matches the published gap.
  - arena-bench v1 ``judge_scores``: a grade >= ``JUDGE_RIGHT`` (8 of 10) is right; ``p_weak``
    over Mixtral, GPT-3.5 (two versions) and Claude Instant, ``p_strong`` over the two GPT-4s.
  - LiveCodeBench ``pass_at_1``: ``p_weak`` is the mean pass@1 of GPT-4o-mini and Claude 3 Haiku
    (cheap, no thinking), ``p_strong`` the best pass@1 among the strongest settings: o3-mini and
    o4-mini at *high* reasoning effort, Gemini 2.5 Pro, Grok 3 Mini (high), Claude 3.7 thinking.
    A bigger thinking budget is escalation, so a problem the high-effort settings solve and the
    cheap models miss is a gain; one nobody solves is not.
- ``table``: MATH ``level`` 1-5, ``MATH_LEVEL_GAIN`` (published per-level accuracies).
- ``prior``: rows with no outcome at all take the prior of their source, category or domain
  (``SOURCE_PRIOR``, ``VICUNA_CATEGORY_PRIOR``, ``ARENA_HARD_PRIOR``, ``DOMAIN_PRIOR``). Arena-Hard
  v2 rows are hard real requests (set membership only); creative writing among them gains from a
  stronger model but little from thinking, so its prior is lower than coding's and maths'.
- ``none``: GSM8K rows without ``rdc7_scores`` have no outcome and no honest prior for their place
  within GSM8K; their gain is NaN: they teach the gate (which kind of prompt) but no expert.

No label reads the prompt's text: a label that was a function of the estimator's own inputs
(like the former ``word_problem_gain``) would only teach the estimator to copy the rule.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from classifiers.targets import GROUPS
from training.datasets import SeedRow
from training.label_tables import (
    ARENA_HARD_PRIOR,
    DOMAIN_PRIOR,
    JUDGE_RIGHT,
    JUDGE_STRONG_MODELS,
    JUDGE_WEAK_MODELS,
    LCB_STRONG_MODELS,
    LCB_WEAK_MODELS,
    MATH_LEVEL_GAIN,
    RB_STRONG_MODELS,
    RDC7_ACCURACY,
    RDC7_GENERATIVE,
    SOURCE_PRIOR,
    STRONG_MODEL,
    VICUNA_CATEGORY_PRIOR,
    WEAK_MODEL,
)

RULES: tuple[str, ...] = ("observed", "graded", "table", "prior", "none")
OUTCOME_LABEL = "outcome"  # labels[OUTCOME_LABEL] = {"weak": bool | float, "strong": bool | float}

DOMAIN_GROUP: Mapping[str, str] = {
    "smalltalk_simple": "chat",
    "factoid": "chat",
    "everyday_chat": "chat",
    "real_chat": "chat",
    "creative_writing": "chat",
    "knowledge_mc": "knowledge",
    "easy_arith": "word_math",
    "grade_school_math": "word_math",
    "competition_math": "math",
    "open_math": "math",
    "science_mc": "reasoning",
    "commonsense_mc": "reasoning",
    "code": "code",
    "open_coding": "code",
}


@dataclass(frozen=True)
class RowTarget:
    """What one row teaches: its expert group, gain target, outcome, topic and the rule used."""

    group: int
    gain: float  # the score's quantity in [0, 1]; NaN: no target (the row teaches the gate only)
    outcome: float  # MMLU's net class, strong - weak in {-1, 0, 1}; NaN elsewhere
    topic: str | None  # the MMLU subject, on rows with outcomes
    rule: str  # one of RULES


@dataclass(frozen=True)
class GradedPair:
    """A row's chance that the cheap side, and that the strong side, answers right."""

    p_weak: float
    p_strong: float

    @property
    def gain(self) -> float:
        return (1.0 - self.p_weak) * self.p_strong


def outcome_gain(weak: bool | float, strong: bool | float) -> float:
    """The label of a row with the cheap side's and the strong side's outcome: True/False (right
    or wrong) or a graded chance in [0, 1]; ``(1 - p_weak) * p_strong``. The one rule for outcome
    rows of any data set, users' own included (issue 17)."""
    p_weak, p_strong = float(weak), float(strong)
    for name, value in (("weak", p_weak), ("strong", p_strong)):
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"{name} must be a bool or a number in [0, 1], got {value!r}")
    return GradedPair(p_weak, p_strong).gain


Rdc7Failure = Mapping[str, float]  # source -> the seven models' mean failure rate over its rows


def seed_targets(rows: Sequence[SeedRow]) -> list[RowTarget]:
    """Every row's target; the rdc7 rescaling reads each source's mean over ``rows``."""
    failure = rdc7_mean_failure(rows)
    return [seed_target(r.source, r.domain, r.labels, rdc7_failure=failure) for r in rows]


def seed_target(
    source: str,
    domain: str,
    labels: Mapping[str, Any],
    *,
    rdc7_failure: Rdc7Failure | None = None,
) -> RowTarget:
    """The target of one row, from the richest signal it carries (see the module docstring)."""
    group = GROUPS.index(DOMAIN_GROUP.get(domain, "chat"))
    pair = labels.get(OUTCOME_LABEL)
    if isinstance(pair, Mapping):
        return RowTarget(
            group, outcome_gain(pair["weak"], pair["strong"]), _net_class(pair), None, "observed"
        )
    outcome = _mmlu_net_class(labels)
    if not math.isnan(outcome):
        topic = f"{source}/{labels['subject']}" if "subject" in labels else None
        return RowTarget(group, float(outcome == 1.0), outcome, topic, "observed")
    rb = routerbench_pair(labels.get("rb11_correct"))
    if rb is not None:
        return RowTarget(group, rb.gain, math.nan, None, "observed")
    graded = graded_pair(source, labels, rdc7_failure)
    if graded is not None:
        return RowTarget(group, graded.gain, math.nan, None, "graded")
    if labels.get("level") in MATH_LEVEL_GAIN:
        return RowTarget(group, MATH_LEVEL_GAIN[int(labels["level"])], math.nan, None, "table")
    prior = _prior(source, domain, labels)
    return RowTarget(group, prior, math.nan, None, "none" if math.isnan(prior) else "prior")


def graded_pair(
    source: str, labels: Mapping[str, Any], rdc7_failure: Rdc7Failure | None = None
) -> GradedPair | None:
    """(p_weak, p_strong) from a row's graded outcomes, or None when it has none."""
    if isinstance(labels.get("pass_at_1"), Mapping):
        return livecodebench_pair(labels["pass_at_1"])
    if isinstance(labels.get("judge_scores"), Mapping):
        return judge_pair(labels["judge_scores"])
    if isinstance(labels.get("rdc7_scores"), Mapping) and source in RDC7_ACCURACY:
        mean = None if rdc7_failure is None else rdc7_failure.get(source)
        return rdc7_pair(source, labels["rdc7_scores"], mean)
    return None


def rdc7_pair(
    source: str, scores: Mapping[str, Any], mean_failure: float | None = None
) -> GradedPair | None:
    """The cheap tier's and the strong model's chances on a row of the seven ~7B models' scores.

    ``mean_failure`` is the seven's mean failure over the source's rows; without it the seven's
    failure is taken as the cheap tier's as it is.
    """
    failure = seven_failure(source, scores)
    if failure is None:
        return None
    cheap_accuracy, strong_accuracy = RDC7_ACCURACY[source]
    if mean_failure is not None and mean_failure > 0:
        failure = min(1.0, failure * (1.0 - cheap_accuracy) / mean_failure)
    ratio = (1.0 - strong_accuracy) / (1.0 - cheap_accuracy)
    return GradedPair(1.0 - failure, 1.0 - min(1.0, ratio * failure))


def seven_failure(source: str, scores: Mapping[str, Any]) -> float | None:
    """The seven models' mean failure on a row: 1 - pass rate, or the share with gold prob. 0."""
    values = [float(v) for v in scores.values() if _is_number(v)]
    if not values:
        return None
    if source in RDC7_GENERATIVE:
        return 1.0 - float(np.mean(values))
    return float(np.mean([v <= 0.0 for v in values]))


def rdc7_mean_failure(rows: Sequence[SeedRow]) -> dict[str, float]:
    """Each rdc7 source's mean ``seven_failure`` over ``rows``."""
    failures: defaultdict[str, list[float]] = defaultdict(list)
    for row in rows:
        scores = row.labels.get("rdc7_scores")
        if isinstance(scores, Mapping) and row.source in RDC7_ACCURACY:
            failure = seven_failure(row.source, scores)
            if failure is not None:
                failures[row.source].append(failure)
    return {source: float(np.mean(values)) for source, values in failures.items()}


def routerbench_pair(outcomes: Any) -> GradedPair | None:
    """RouterBench: the eight cheaper models' accuracy, and whether any strong model is right."""
    if not isinstance(outcomes, Mapping):
        return None
    known = {model: float(v) for model, v in outcomes.items() if _is_number(v)}
    strong = [known[m] for m in RB_STRONG_MODELS if m in known]
    weak = [v for m, v in known.items() if m not in RB_STRONG_MODELS]
    if not strong or not weak:
        return None
    return GradedPair(float(np.mean(weak)), max(strong))


def routerbench_fail_share(outcomes: Mapping[str, Any]) -> float | None:
    """Share of all RouterBench models that fail: the raw hardness the evaluation reports."""
    values = [float(v) for v in outcomes.values() if _is_number(v)]
    return 1.0 - sum(values) / len(values) if values else None


def judge_pair(grades: Mapping[str, Any]) -> GradedPair | None:
    """arena-bench: the share of weak and of strong models graded >= ``JUDGE_RIGHT``."""
    weak = [float(grades[m]) >= JUDGE_RIGHT for m in JUDGE_WEAK_MODELS if _is_number(grades.get(m))]
    strong = [
        float(grades[m]) >= JUDGE_RIGHT for m in JUDGE_STRONG_MODELS if _is_number(grades.get(m))
    ]
    if not weak or not strong:
        return None
    return GradedPair(float(np.mean(weak)), float(np.mean(strong)))


def livecodebench_pair(pass_at_1: Mapping[str, Any]) -> GradedPair | None:
    """LiveCodeBench: cheap models' mean pass@1 and the strongest settings' best, as shares."""
    weak = [float(pass_at_1[m]) / 100 for m in LCB_WEAK_MODELS if _is_number(pass_at_1.get(m))]
    strong = [float(pass_at_1[m]) / 100 for m in LCB_STRONG_MODELS if _is_number(pass_at_1.get(m))]
    if not weak or not strong:
        return None
    return GradedPair(float(np.mean(weak)), max(strong))


def target_matrix(targets: Sequence[RowTarget]) -> np.ndarray:
    """``DifficultyEstimator``'s ``y``: group, gain, outcome and topic index (NaN: none)."""
    topics = sorted({t.topic for t in targets if t.topic is not None})
    index = {topic: float(i) for i, topic in enumerate(topics)}
    return np.array(
        [
            (float(t.group), t.gain, t.outcome, math.nan if t.topic is None else index[t.topic])
            for t in targets
        ],
        dtype=np.float64,
    ).reshape(len(targets), 4)


def provenance(targets: Sequence[RowTarget]) -> dict[str, int]:
    """How many targets each rule made, in ``RULES`` order."""
    counts = {rule: 0 for rule in RULES}
    for target in targets:
        counts[target.rule] += 1
    return counts


def _net_class(pair: Mapping[str, Any]) -> float:
    """A user's outcome row: strong - weak when both are true/false, else NaN."""
    weak, strong = pair.get("weak"), pair.get("strong")
    if isinstance(weak, bool) and isinstance(strong, bool):
        return float(int(strong) - int(weak))
    return math.nan


def _mmlu_net_class(labels: Mapping[str, Any]) -> float:
    correct = labels.get("correct")
    if not isinstance(correct, Mapping) or WEAK_MODEL not in correct or STRONG_MODEL not in correct:
        return math.nan
    return float(int(bool(correct[STRONG_MODEL])) - int(bool(correct[WEAK_MODEL])))


def _prior(source: str, domain: str, labels: Mapping[str, Any]) -> float:
    if source == "vicuna_bench" and labels.get("category") in VICUNA_CATEGORY_PRIOR:
        return VICUNA_CATEGORY_PRIOR[str(labels["category"])]
    if source == "arena_hard_v2" and labels.get("subcategory") in ARENA_HARD_PRIOR:
        return ARENA_HARD_PRIOR[str(labels["subcategory"])]
    if source in SOURCE_PRIOR:
        return SOURCE_PRIOR[source]
    return DOMAIN_PRIOR.get(domain, math.nan if domain == "grade_school_math" else 0.12)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and not math.isnan(value)
