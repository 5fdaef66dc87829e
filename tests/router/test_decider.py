from __future__ import annotations

import math

import pytest

from router.decider import Decider
from router.errors import ClassifierError, EmptyPromptError
from router.policy import Policy
from tests.router.conftest import FakeScorer


def test_decide_fills_the_decision_from_the_chosen_tier(policy: Policy) -> None:
    scorer = FakeScorer({"Prove the Riemann hypothesis.": 0.91})
    messages = [
        {"role": "system", "content": "You are helpful."},
        {"role": "user", "content": "Prove the Riemann hypothesis."},
    ]

    decision = Decider(scorer, policy).decide(messages)

    deep = policy.tier("deep")
    assert (decision.score, decision.tier, decision.model) == (0.91, "deep", deep.model)
    assert decision.budget == deep.budget
    assert decision.strategy.samples == 3
    assert decision.fallbacks == deep.fallbacks
    assert decision.timeout_s == deep.timeout_s
    assert (decision.classifier_version, decision.policy_version) == ("fake-1", "test-1")
    assert decision.decision_ms > 0
    assert decision.reasons == (
        "score 0.910 in band [0.7, 1] of tier 'deep'",
        "scored 29 characters (4 words) from the last user turn messages[1]",
    )


def test_decide_scores_the_extracted_text(policy: Policy) -> None:
    scorer = FakeScorer()
    messages = [
        {"role": "user", "content": "Sort this list in O(n log n)."},
        {"role": "assistant", "content": "Use merge sort."},
        {"role": "user", "content": "in place?"},
    ]

    decision = Decider(scorer, policy).decide(messages)

    assert scorer.calls == [["Sort this list in O(n log n).\nin place?"]]
    assert "earlier user turns messages[0]" in decision.reasons[1]


def test_decide_text_scores_the_text_as_given(policy: Policy) -> None:
    scorer = FakeScorer({"hello": 0.3})

    decision = Decider(scorer, policy).decide_text("hello")

    assert decision.tier == "mid"
    assert decision.reasons == (
        "score 0.300 in band [0.3, 0.7) of tier 'mid'",
        "scored 5 characters (1 word) from the given text",
    )


@pytest.mark.parametrize(("score", "tier"), [(0.0, "fast"), (0.7, "deep"), (1.0, "deep")])
def test_boundary_scores_go_to_the_higher_tier(policy: Policy, score: float, tier: str) -> None:
    assert Decider(FakeScorer(default=score), policy).decide_text("x").tier == tier


def test_empty_text_is_refused_before_scoring(policy: Policy) -> None:
    scorer = FakeScorer()

    with pytest.raises(EmptyPromptError, match="text is empty"):
        Decider(scorer, policy).decide_text("   ")

    assert scorer.calls == []


@pytest.mark.parametrize("score", [1.5, -0.1, math.nan])
def test_score_outside_the_unit_interval_is_a_classifier_error(
    policy: Policy, score: float
) -> None:
    with pytest.raises(ClassifierError, match=r"classifier fake-1 returned score .* outside"):
        Decider(FakeScorer(default=score), policy).decide_text("x")
