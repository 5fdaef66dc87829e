from __future__ import annotations

import inspect
import math

import numpy as np
import pytest

from classifiers.difficulty import GROUPS
from training.datasets import SeedRow
from training.label_tables import (
    ARENA_HARD_PRIOR,
    JUDGE_STRONG_MODELS,
    JUDGE_WEAK_MODELS,
    LCB_STRONG_MODELS,
    LCB_WEAK_MODELS,
    MATH_LEVEL_GAIN,
    RB_STRONG_MODELS,
    RDC7_ACCURACY,
    STRONG_MODEL,
    WEAK_MODEL,
)
from training.labels import (
    RULES,
    outcome_gain,
    provenance,
    rdc7_pair,
    routerbench_fail_share,
    routerbench_pair,
    seed_target,
    seed_targets,
    target_matrix,
)

SEVEN = [f"small-{i}" for i in range(7)]


def mmlu(weak: bool, strong: bool, subject: str = "anatomy") -> dict[str, object]:
    return {"subject": subject, "correct": {WEAK_MODEL: weak, STRONG_MODEL: strong}}


def test_mmlu_outcomes_are_the_event_weak_wrong_and_strong_right() -> None:
    gains = {
        (weak, strong): seed_target("routellm_mmlu", "knowledge_mc", mmlu(weak, strong))
        for weak in (False, True)
        for strong in (False, True)
    }

    assert {key: t.gain for key, t in gains.items()} == {
        (False, True): 1.0,  # only the strong model gets it: escalation pays
        (False, False): 0.0,  # no model solves it: nothing gained
        (True, True): 0.0,
        (True, False): 0.0,
    }
    assert all(t.rule == "observed" for t in gains.values())
    assert [gains[k].outcome for k in [(False, True), (True, False), (True, True)]] == [1, -1, 0]


def test_outcome_rows_carry_their_topic_and_group() -> None:
    target = seed_target("routellm_mmlu", "knowledge_mc", mmlu(True, True, "virology"))

    assert target.topic == "routellm_mmlu/virology"
    assert GROUPS[target.group] == "knowledge"


def test_a_routerbench_prompt_every_model_fails_gains_nothing() -> None:
    weak = {f"m{i}": 0.0 for i in range(8)}
    unsolved = {**weak, **dict.fromkeys(RB_STRONG_MODELS, 0.0)}
    solved_by_one = {**unsolved, RB_STRONG_MODELS[1]: 1.0}

    assert seed_target("routerbench_mbpp", "code", {"rb11_correct": unsolved}).gain == 0.0
    target = seed_target("routerbench_mbpp", "code", {"rb11_correct": solved_by_one})
    assert target.gain == 1.0 and target.rule == "observed"


def test_routerbench_ignores_missing_outcomes() -> None:
    outcomes = {"a": 1.0, "b": math.nan, "c": 0.0, RB_STRONG_MODELS[0]: 1.0}

    assert routerbench_fail_share(outcomes) == pytest.approx(1 / 3)
    pair = routerbench_pair(outcomes)
    assert pair is not None and pair.p_weak == 0.5 and pair.gain == 0.5


def test_rdc7_labels_rise_with_the_small_models_failures_and_match_the_published_level() -> None:
    rows = [
        SeedRow(f"gsm8k:{i}", "gsm8k", "grade_school_math", "q", {"rdc7_scores": scores})
        for i, scores in enumerate({m: float(v) for m in SEVEN} for v in np.linspace(0.0, 1.0, 11))
    ]
    targets = seed_targets(rows)
    gains = [t.gain for t in targets]

    assert gains == sorted(gains, reverse=True) and gains[-1] == 0.0
    assert all(t.rule == "graded" for t in targets)
    cheap, strong = RDC7_ACCURACY["gsm8k"]
    # the seven fail half the time on these rows; rescaled, the cheap tier fails 1 - cheap
    pair = rdc7_pair("gsm8k", {m: 0.0 for m in SEVEN}, mean_failure=0.5)
    assert pair is not None
    assert 1 - pair.p_weak == pytest.approx(2 * (1 - cheap))
    assert 1 - pair.p_strong == pytest.approx(2 * (1 - strong))


def test_multiple_choice_rdc7_counts_a_zero_gold_probability_as_wrong() -> None:
    scores = {m: (0.0 if i < 2 else 0.7) for i, m in enumerate(SEVEN)}

    pair = rdc7_pair("arc_easy", scores)

    assert pair is not None and pair.p_weak == pytest.approx(5 / 7)


def test_judge_grades_of_eight_or_more_count_as_right() -> None:
    grades = {**dict.fromkeys(JUDGE_WEAK_MODELS, 5.0), **dict.fromkeys(JUDGE_STRONG_MODELS, 9.0)}
    target = seed_target("arena_bench_v1", "real_chat", {"judge_scores": grades})
    easy = {**grades, **dict.fromkeys(JUDGE_WEAK_MODELS, 8.0)}

    assert target.gain == 1.0 and target.rule == "graded"
    assert seed_target("arena_bench_v1", "real_chat", {"judge_scores": easy}).gain == 0.0


def test_livecodebench_gain_needs_the_cheap_models_to_fail_and_a_strong_setting_to_pass() -> None:
    def target(weak: float, strong: float) -> float:
        passes = {**dict.fromkeys(LCB_WEAK_MODELS, weak), **dict.fromkeys(LCB_STRONG_MODELS, 0.0)}
        passes[LCB_STRONG_MODELS[0]] = strong
        return seed_target("livecodebench_build", "code", {"pass_at_1": passes}).gain

    assert target(0.0, 100.0) == 1.0
    assert target(100.0, 100.0) == 0.0
    assert target(0.0, 0.0) == 0.0  # nobody solves it: more compute buys nothing
    assert target(50.0, 100.0) == 0.5


def test_math_levels_come_from_the_table() -> None:
    targets = [
        seed_target("math_hendrycks", "competition_math", {"level": level}) for level in range(1, 6)
    ]
    assert [t.gain for t in targets] == list(MATH_LEVEL_GAIN.values())
    assert {t.rule for t in targets} == {"table"}


def test_priors_only_where_nothing_else_exists() -> None:
    smalltalk = seed_target("clinc150", "smalltalk_simple", {"category": "x"})
    coding = seed_target("arena_hard_v2", "open_coding", {"subcategory": "coding"})
    creative = seed_target("arena_hard_v2", "creative_writing", {"subcategory": "creative_writing"})

    assert smalltalk.gain == 0.0 and smalltalk.rule == "prior" and math.isnan(smalltalk.outcome)
    assert coding.gain == ARENA_HARD_PRIOR["coding"] > creative.gain > smalltalk.gain
    assert GROUPS[creative.group] == "chat" and GROUPS[coding.group] == "code"


def test_grade_school_maths_without_outcomes_has_no_target_and_no_text_rule() -> None:
    target = seed_target("gsm8k", "grade_school_math", {})

    assert math.isnan(target.gain) and target.rule == "none"
    assert GROUPS[target.group] == "word_math"
    assert "prompt" not in inspect.signature(seed_target).parameters


def test_provenance_counts_every_rule() -> None:
    targets = [
        seed_target("routellm_mmlu", "knowledge_mc", mmlu(False, True)),
        seed_target("gsm8k", "grade_school_math", {}),
        seed_target("nq_open", "factoid", {}),
    ]

    counts = provenance(targets)

    assert list(counts) == list(RULES)
    assert counts == {"observed": 1, "graded": 0, "table": 0, "prior": 1, "none": 1}


def test_target_matrix_indexes_topics_and_leaves_nan_elsewhere() -> None:
    targets = [
        seed_target("routellm_mmlu", "knowledge_mc", mmlu(False, True, "b")),
        seed_target("routellm_mmlu", "knowledge_mc", mmlu(True, True, "a")),
        seed_target("clinc150", "smalltalk_simple", {}),
    ]
    y = target_matrix(targets)

    assert y.shape == (3, 4)
    assert y[0, 3] == 1.0 and y[1, 3] == 0.0 and np.isnan(y[2, 3])


def test_outcome_gain_is_the_one_rule_for_any_outcome_row() -> None:
    assert outcome_gain(False, True) == 1.0 and outcome_gain(True, True) == 0.0
    assert outcome_gain(False, False) == 0.0
    assert outcome_gain(0.25, 0.8) == pytest.approx(0.6)
    with pytest.raises(ValueError, match="strong must be a bool or a number in"):
        outcome_gain(0.5, 1.5)
