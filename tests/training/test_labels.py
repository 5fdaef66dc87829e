from __future__ import annotations

import math

import numpy as np
import pytest

from classifiers.difficulty import GROUPS
from training.labels import (
    MATH_LEVEL_GAIN,
    STRONG_MODEL,
    WEAK_MODEL,
    routerbench_fail_share,
    routerbench_gain,
    seed_target,
    target_matrix,
    word_problem_gain,
)


def mmlu(weak: bool, strong: bool, subject: str = "anatomy") -> dict[str, object]:
    return {"subject": subject, "correct": {WEAK_MODEL: weak, STRONG_MODEL: strong}}


def test_outcomes_give_the_net_gain_class() -> None:
    assert seed_target("routellm_mmlu", "knowledge_mc", mmlu(False, True), "q").outcome == 1.0
    assert seed_target("routellm_mmlu", "knowledge_mc", mmlu(True, False), "q").outcome == -1.0
    both_wrong = seed_target("routellm_mmlu", "knowledge_mc", mmlu(False, False), "q")
    assert both_wrong.outcome == 0.0 and both_wrong.gain == 0.0


def test_outcome_rows_carry_their_topic_and_group() -> None:
    target = seed_target("routellm_mmlu", "knowledge_mc", mmlu(True, True, "virology"), "q")

    assert target.topic == "routellm_mmlu/virology"
    assert GROUPS[target.group] == "knowledge"


def test_math_levels_raise_the_gain() -> None:
    gains = [
        seed_target("math_hendrycks", "competition_math", {"level": level}, "p").gain
        for level in range(1, 6)
    ]
    assert gains == sorted(gains) and gains == list(MATH_LEVEL_GAIN.values())


def test_routerbench_gain_is_discounted_when_the_strong_model_fails_too() -> None:
    others = {f"m{i}": 0.0 for i in range(10)}
    solved = routerbench_gain({**others, STRONG_MODEL: 1.0})
    unsolved = routerbench_gain({**others, STRONG_MODEL: 0.0})

    assert solved == 1.0 and unsolved == 0.5


def test_routerbench_ignores_missing_outcomes() -> None:
    outcomes = {"a": 1.0, "b": math.nan, "c": 0.0, STRONG_MODEL: 1.0}

    assert routerbench_fail_share(outcomes) == pytest.approx(1 / 3)
    assert routerbench_gain(outcomes) == 0.5


def test_word_problems_with_more_steps_gain_more() -> None:
    short = "Tom has 3 apples. He eats 1. How many are left?"
    long = (
        "A shop sells pens at $2 each and notebooks at $5 each. On Monday it sold 12 pens and"
        " 7 notebooks; on Tuesday twice as many pens and 3 fewer notebooks. A quarter of the"
        " money goes to rent and 15% to wages. How much is left after both days?"
    )
    assert word_problem_gain(long) > word_problem_gain(short)
    assert 0.1 <= word_problem_gain(short) <= 0.6


def test_unlabelled_rows_take_their_prior_and_no_outcome() -> None:
    smalltalk = seed_target("clinc150", "smalltalk_simple", {"category": "x"}, "hi")
    vicuna_math = seed_target("vicuna_bench", "everyday_chat", {"category": "math"}, "p")

    assert smalltalk.gain == 0.0 and math.isnan(smalltalk.outcome) and smalltalk.topic is None
    assert vicuna_math.gain > smalltalk.gain


def test_target_matrix_indexes_topics_and_leaves_nan_elsewhere() -> None:
    targets = [
        seed_target("routellm_mmlu", "knowledge_mc", mmlu(False, True, "b"), "q"),
        seed_target("routellm_mmlu", "knowledge_mc", mmlu(True, True, "a"), "q"),
        seed_target("clinc150", "smalltalk_simple", {}, "hi"),
    ]
    y = target_matrix(targets)

    assert y.shape == (3, 4)
    assert y[0, 3] == 1.0 and y[1, 3] == 0.0 and np.isnan(y[2, 3])
