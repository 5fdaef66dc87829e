"""From a request to a ``Decision``: pick the text, score it, look up the tier.

``Decider`` holds no state beyond its scorer and policy; to reload either, build a new
``Decider`` and swap it into whatever holder the app keeps. ``assess`` also returns what the
decision log keeps of the scored text (``ScoredPrompt``): the embedding comes from the one
``embed_and_score`` call that produced the score, so nothing is embedded twice.

``prepare`` and ``prepare_text`` pick the text of one request (rejecting bad input at once);
``assess_batch`` scores many prepared texts with one encoder pass, which is how the service
decides concurrent requests (``router.decision.batching``). Each decision's time runs from its own
``prepare``, so a wait for the batch counts in it.

``retarget`` sends a decision to another tier (a pinned model, an exploration draw), keeping the
score for the record.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from typing import Any, NamedTuple, Protocol

from records import Decision, ScoredPrompt
from router.decision.policy import Policy, Tier
from router.decision.prompt import extract_prompt, require_text
from router.errors import ClassifierError

__all__ = ["Assessment", "BatchScorer", "Decider", "Prepared", "checked_score", "retarget"]


class BatchScorer(Protocol):
    """What the decider (and ``router score``) need from ``classifiers.scorer.Scorer``."""

    @property
    def version(self) -> str: ...

    def embed_and_score(self, texts: Sequence[str]) -> tuple[Any, Any]: ...


class Assessment(NamedTuple):
    """A decision and what the decision log keeps of the text it scored."""

    decision: Decision
    prompt: ScoredPrompt


class Prepared(NamedTuple):
    """A request's text, ready to score: where it came from, and when its decision started."""

    text: str
    origin: str
    started: float


class Decider:
    """Turns chat messages, or a bare text, into a ``Decision``."""

    def __init__(self, scorer: BatchScorer, policy: Policy) -> None:
        self.scorer = scorer
        self.policy = policy

    def decide(self, messages: object) -> Decision:
        """The decision for an OpenAI-style ``messages`` list (see ``router.decision.prompt``)."""
        return self.assess(messages).decision

    def decide_text(self, text: str) -> Decision:
        """The decision for ``text`` scored as it is."""
        return self.assess_text(text).decision

    def assess(self, messages: object) -> Assessment:
        """``decide``, with the scored text's embedding and features for the decision log."""
        return self.assess_batch([self.prepare(messages)])[0]

    def assess_text(self, text: str) -> Assessment:
        """``decide_text``, with the text's embedding and features for the decision log."""
        return self.assess_batch([self.prepare_text(text)])[0]

    @staticmethod
    def prepare(messages: object) -> Prepared:
        """The text to score for chat ``messages`` (``router.decision.prompt``); bad messages
        raise here."""
        started = time.perf_counter()
        prompt = extract_prompt(messages)
        return Prepared(prompt.text, prompt.describe(), started)

    @staticmethod
    def prepare_text(text: str) -> Prepared:
        """``text`` to be scored as it is; an empty one raises here."""
        started = time.perf_counter()
        return Prepared(require_text(text), "the given text", started)

    def assess_batch(self, prepared: Sequence[Prepared]) -> list[Assessment]:
        """One assessment per prepared text, in order, from one ``embed_and_score`` call."""
        if not prepared:
            return []
        embeddings, scores = self.scorer.embed_and_score([item.text for item in prepared])
        if len(embeddings) != len(prepared) or len(scores) != len(prepared):
            raise ClassifierError(
                f"classifier {self.scorer.version} returned {len(embeddings)} embeddings and"
                f" {len(scores)} scores for {_count(len(prepared), 'text')}"
            )
        return [
            self._assessment(item, embedding, score)
            for item, embedding, score in zip(prepared, embeddings, scores, strict=True)
        ]

    def _assessment(self, item: Prepared, embedding: Any, value: float) -> Assessment:
        score = checked_score(value, self.scorer.version)
        tier = self.policy.choose(score)
        text = item.text
        reasons = (
            f"score {score:.3f} in band {self.policy.band_text(tier)} of tier '{tier.name}'",
            f"scored {_count(len(text), 'character')} ({_count(len(text.split()), 'word')})"
            f" from {item.origin}",
        )
        elapsed_ms = (time.perf_counter() - item.started) * 1000.0
        decision = _decision(score, tier, self, reasons, elapsed_ms)
        return Assessment(decision, ScoredPrompt.of(text, embedding))


def checked_score(value: float, classifier_version: str) -> float:
    """``value`` as a float, or ``ClassifierError`` if it is not a score in [0, 1]."""
    score = float(value)
    if not (math.isfinite(score) and 0.0 <= score <= 1.0):
        raise ClassifierError(
            f"classifier {classifier_version} returned score {value!r}, outside [0, 1]"
        )
    return score


def retarget(
    decision: Decision,
    policy: Policy,
    tier: Tier,
    reason: str,
    *,
    choice_probability: float = 1.0,
) -> Decision:
    """``decision`` sent to ``tier`` of ``policy`` instead, its score kept for the record."""
    return decision.model_copy(
        update={
            "tier": tier.name,
            "tier_index": policy.index(tier),
            "model": tier.model,
            "budget": tier.budget,
            "strategy": tier.strategy,
            "fallbacks": tier.fallbacks,
            "timeout_s": tier.timeout_s,
            "reasons": (*decision.reasons, reason),
            "choice_probability": choice_probability,
        }
    )


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"


def _decision(
    score: float, tier: Tier, decider: Decider, reasons: tuple[str, ...], elapsed_ms: float
) -> Decision:
    return Decision(
        score=score,
        tier=tier.name,
        tier_index=decider.policy.index(tier),
        model=tier.model,
        budget=tier.budget,
        strategy=tier.strategy,
        fallbacks=tier.fallbacks,
        timeout_s=tier.timeout_s,
        classifier_version=decider.scorer.version,
        policy_version=decider.policy.version,
        reasons=reasons,
        decision_ms=elapsed_ms,
    )
