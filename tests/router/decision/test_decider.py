from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pytest

from classifiers.features import text_features
from router.decision.decider import Decider
from router.decision.policy import Policy
from router.errors import ClassifierError, EmptyPromptError
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


def test_assess_keeps_the_embedding_of_the_one_scoring_call(policy: Policy) -> None:
    class Embedding(FakeScorer):
        def embed_and_score(self, texts: Sequence[str]) -> tuple[Any, Any]:
            self.calls.append(list(texts))
            return np.full((len(texts), 4), 0.5, dtype=np.float32), np.array([0.91] * len(texts))

    scorer = Embedding()
    text = "Prove that sqrt(2) is irrational. Then: what is 2 + 2?"

    decision, prompt = Decider(scorer, policy).assess_text(text)

    assert scorer.calls == [[text]]
    assert (decision.tier, decision.tier_index) == ("deep", 2)
    assert np.frombuffer(prompt.embedding, dtype="<f2").tolist() == [0.5] * 4
    assert prompt.features == tuple(text_features(text))
    assert prompt.hash == hashlib.sha256(text.encode()).hexdigest()
    assert prompt.text == text


def test_a_scorer_that_returns_no_row_is_a_classifier_error(policy: Policy) -> None:
    class Empty(FakeScorer):
        def embed_and_score(self, texts: Sequence[str]) -> tuple[Any, Any]:
            return np.zeros((0, 4)), np.zeros(0)

    with pytest.raises(ClassifierError, match="returned 0 embeddings and 0 scores for 1 text"):
        Decider(Empty(), policy).decide_text("hello")
