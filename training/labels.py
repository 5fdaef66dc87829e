"""Labelling rules: what each seed row teaches about the gain from more compute.

The target is the **expected gain from escalating**: the probability that a cheap, non-thinking
model gets the prompt wrong *and* a stronger model or a bigger thinking budget gets it right. It is
not raw hardness: a question that no model answers has a gain near zero, because test-time compute
cannot supply missing knowledge.

Where a row carries per-model outcomes the target comes from them:

- ``correct`` (MMLU, Mixtral vs GPT-4): the net outcome class ``strong - weak`` in {-1, 0, +1}; the
  ``outcome`` expert learns P(class | prompt) and predicts E[gain] = P(+1) - P(-1).
  Those rows also carry their topic (the MMLU subject): how much the stronger model helps varies
  far more between subjects than within one, so the expert also learns P(topic | prompt).
- ``rb11_correct`` (RouterBench, 11 models): the share of the ten non-GPT-4 models that fail,
  times 1 when GPT-4 succeeds and ``UNSOLVED_DISCOUNT`` (0.5) when it fails too. GPT-4 answered
  0-shot without reasoning, so its failure says less about a reasoning model than the MMLU
  outcomes do.
- ``level`` (MATH 1-5): ``MATH_LEVEL_GAIN``, from the published per-level accuracy of non-thinking
  chat models (about 0.75 at level 1 down to 0.15 at level 5) against reasoning models (0.98 to
  0.88).

- ``outcome`` (a user's own rows, ``training.user_data``): ``outcome_gain(weak, strong)``, the
  probability that the weak setting fails and the strong one succeeds, ``(1 - weak) * strong``,
  each a true/false outcome or a graded score in [0, 1]. When both are true/false the row also
  has its net outcome class ``strong - weak``, as the MMLU rows do.

- GSM8K (no outcomes): ``word_problem_gain``, the domain prior 0.30 spread by the number of
  quantities and words in the problem (a stand-in for the number of solution steps), clipped to
  [0.1, 0.6].

Rows without outcomes take the prior of their source or domain (``SOURCE_PRIOR``, ``DOMAIN_PRIOR``,
and vicuna's categories), listed in the model card. They are what places a prompt *kind* on the
scale; the outcomes order prompts within a kind.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from classifiers.difficulty import GROUPS

WEAK_MODEL = "mistralai/Mixtral-8x7B-Instruct-v0.1"
STRONG_MODEL = "gpt-4-1106-preview"
RB_STRONG_MODEL = "gpt-4-1106-preview"
UNSOLVED_DISCOUNT = 0.5
OUTCOME_LABEL = "outcome"  # labels[OUTCOME_LABEL] = {"weak": bool | float, "strong": bool | float}

MATH_LEVEL_GAIN: Mapping[int, float] = {1: 0.25, 2: 0.37, 3: 0.5, 4: 0.62, 5: 0.75}

DOMAIN_GROUP: Mapping[str, str] = {
    "smalltalk_simple": "chat",
    "factoid": "chat",
    "everyday_chat": "chat",
    "knowledge_mc": "knowledge",
    "easy_arith": "math",
    "grade_school_math": "math",
    "competition_math": "math",
    "science_mc": "reasoning",
    "commonsense_mc": "reasoning",
    "code": "reasoning",
}

DOMAIN_PRIOR: Mapping[str, float] = {
    "smalltalk_simple": 0.0,
    "factoid": 0.06,
    "everyday_chat": 0.12,
    "easy_arith": 0.06,
    "grade_school_math": 0.3,
    "competition_math": 0.5,
    "science_mc": 0.12,
    "commonsense_mc": 0.2,
    "code": 0.35,
    "knowledge_mc": 0.12,
}

SOURCE_PRIOR: Mapping[str, float] = {
    "arc_easy": 0.05,
    "arc_challenge": 0.15,
    "oasst1": 0.15,
    "anthropic_hh_helpful_base": 0.1,
    "self_instruct_seed": 0.1,
    "humaneval": 0.4,
    "mbpp": 0.35,
}

VICUNA_CATEGORY_PRIOR: Mapping[str, float] = {
    "math": 0.5,
    "coding": 0.45,
    "fermi": 0.35,
    "counterfactual": 0.15,
    "common-sense": 0.12,
    "knowledge": 0.12,
    "generic": 0.1,
    "writing": 0.1,
    "roleplay": 0.08,
}


WORD_PROBLEM_SPREAD = 0.25
_QUANTITY = re.compile(r"\d+(?:[.,]\d+)?%?|\b(?:half|twice|double|triple|third|quarter)\b")
_TYPICAL_LOG_QUANTITIES = math.log1p(4)
_TYPICAL_LOG_WORDS = math.log1p(45)


@dataclass(frozen=True)
class RowTarget:
    """What one row teaches: its expert group, gain target, outcome class and topic."""

    group: int
    gain: float
    outcome: float  # -1, 0, 1, or NaN when the row has no weak/strong outcomes
    topic: str | None  # e.g. the MMLU subject, on rows with outcomes


def seed_target(source: str, domain: str, labels: Mapping[str, Any], prompt: str) -> RowTarget:
    """The target for one seed row, from the richest signal it carries."""
    group = GROUPS.index(DOMAIN_GROUP.get(domain, "chat"))
    outcome = _outcome_class(labels)
    has_topic = "subject" in labels and not math.isnan(outcome)
    topic = f"{source}/{labels['subject']}" if has_topic else None
    gain = _gain(source, domain, labels, outcome)
    if domain == "grade_school_math" and math.isnan(outcome) and OUTCOME_LABEL not in labels:
        gain = word_problem_gain(prompt)
    return RowTarget(group, gain, outcome, topic)


def outcome_gain(weak: float, strong: float) -> float:
    """The gain label of one observed (weak, strong) outcome pair, each in [0, 1] (true = 1):
    the probability that the weak setting fails and the strong one gets it right."""
    return (1.0 - float(weak)) * float(strong)


def word_problem_gain(prompt: str) -> float:
    """GSM8K-style gain: the domain prior, spread by how many steps the problem likely takes.

    Multi-step word problems fail a cheap model more often the more quantities they combine and
    the longer they run; the counts stand in for the number of solution steps, which the seed
    data does not carry.
    """
    quantities = len(_QUANTITY.findall(prompt))
    words = len(prompt.split())
    steps = 0.5 * (math.log1p(quantities) - _TYPICAL_LOG_QUANTITIES) + 0.5 * (
        math.log1p(words) - _TYPICAL_LOG_WORDS
    )
    gain = DOMAIN_PRIOR["grade_school_math"] + WORD_PROBLEM_SPREAD * steps
    return min(max(gain, 0.1), 0.6)


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
    )


def _outcome_class(labels: Mapping[str, Any]) -> float:
    pair = labels.get(OUTCOME_LABEL)
    if isinstance(pair, Mapping):
        weak, strong = pair.get("weak"), pair.get("strong")
        if isinstance(weak, bool) and isinstance(strong, bool):
            return float(int(strong) - int(weak))
        return math.nan
    correct = labels.get("correct")
    if not isinstance(correct, Mapping) or WEAK_MODEL not in correct or STRONG_MODEL not in correct:
        return math.nan
    return float(int(bool(correct[STRONG_MODEL])) - int(bool(correct[WEAK_MODEL])))


def _gain(source: str, domain: str, labels: Mapping[str, Any], outcome: float) -> float:
    pair = labels.get(OUTCOME_LABEL)
    if isinstance(pair, Mapping):
        return outcome_gain(pair["weak"], pair["strong"])
    if not math.isnan(outcome):
        return max(outcome, 0.0)
    if isinstance(labels.get("rb11_correct"), Mapping):
        rb_gain = routerbench_gain(labels["rb11_correct"])
        if rb_gain is not None:
            return rb_gain
    if labels.get("level") in MATH_LEVEL_GAIN:
        return MATH_LEVEL_GAIN[int(labels["level"])]
    if source == "vicuna_bench" and labels.get("category") in VICUNA_CATEGORY_PRIOR:
        return VICUNA_CATEGORY_PRIOR[str(labels["category"])]
    return SOURCE_PRIOR.get(source, DOMAIN_PRIOR.get(domain, DOMAIN_PRIOR["everyday_chat"]))


def routerbench_gain(outcomes: Mapping[str, Any]) -> float | None:
    """Share of the non-GPT-4 models that fail, discounted when GPT-4 fails as well."""
    others = [float(v) for k, v in outcomes.items() if k != RB_STRONG_MODEL and _is_number(v)]
    strong = outcomes.get(RB_STRONG_MODEL)
    if not others or not _is_number(strong):
        return None
    fail_share = 1.0 - sum(others) / len(others)
    return fail_share * (1.0 if float(strong or 0.0) >= 0.5 else UNSOLVED_DISCOUNT)


def routerbench_fail_share(outcomes: Mapping[str, Any]) -> float | None:
    """Share of all RouterBench models that fail: the raw hardness the evaluation reports."""
    values = [float(v) for v in outcomes.values() if _is_number(v)]
    return 1.0 - sum(values) / len(values) if values else None


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and not math.isnan(value)
