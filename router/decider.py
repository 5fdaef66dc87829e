"""From a request to a ``Decision``: pick the text, score it, look up the tier.

``Decider`` holds no state beyond its scorer and policy; to reload either, build a new
``Decider`` and swap it into whatever holder the app keeps.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from typing import Any, Protocol

from router.errors import ClassifierError
from router.policy import Policy, Tier
from router.prompt import extract_prompt, require_text
from router.records import Decision

__all__ = ["BatchScorer", "Decider", "TextScorer", "checked_score"]


class TextScorer(Protocol):
    """What the decider needs from ``classifiers.scorer.Scorer``."""

    @property
    def version(self) -> str: ...

    def score_one(self, text: str) -> float: ...


class BatchScorer(TextScorer, Protocol):
    """A scorer that also scores many texts at once (``router score`` uses it)."""

    def embed_and_score(self, texts: Sequence[str]) -> tuple[Any, Any]: ...


class Decider:
    """Turns chat messages, or a bare text, into a ``Decision``."""

    def __init__(self, scorer: TextScorer, policy: Policy) -> None:
        self.scorer = scorer
        self.policy = policy

    def decide(self, messages: object) -> Decision:
        """The decision for an OpenAI-style ``messages`` list (see ``router.prompt``)."""
        started = time.perf_counter()
        prompt = extract_prompt(messages)
        return self._decide(prompt.text, prompt.describe(), started)

    def decide_text(self, text: str) -> Decision:
        """The decision for ``text`` scored as it is."""
        started = time.perf_counter()
        return self._decide(require_text(text), "the given text", started)

    def _decide(self, text: str, origin: str, started: float) -> Decision:
        score = checked_score(self.scorer.score_one(text), self.scorer.version)
        tier = self.policy.choose(score)
        reasons = (
            f"score {score:.3f} in band {self.policy.band_text(tier)} of tier '{tier.name}'",
            f"scored {_count(len(text), 'character')} ({_count(len(text.split()), 'word')})"
            f" from {origin}",
        )
        elapsed_ms = (time.perf_counter() - started) * 1000.0
        return _decision(score, tier, self, reasons, elapsed_ms)


def checked_score(value: float, classifier_version: str) -> float:
    """``value`` as a float, or ``ClassifierError`` if it is not a score in [0, 1]."""
    score = float(value)
    if not (math.isfinite(score) and 0.0 <= score <= 1.0):
        raise ClassifierError(
            f"classifier {classifier_version} returned score {value!r}, outside [0, 1]"
        )
    return score


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"


def _decision(
    score: float, tier: Tier, decider: Decider, reasons: tuple[str, ...], elapsed_ms: float
) -> Decision:
    return Decision(
        score=score,
        tier=tier.name,
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
