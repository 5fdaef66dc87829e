"""Exploration: a small, known share of ``auto`` traffic goes one tier away from the policy's.

Logged outcomes only say how the tier that served a prompt did. If the policy always escalates a
kind of prompt, the logs never show whether the cheaper tier would have done; exploring now and
then is what lets retraining find out, and logging the true probability of each choice lets it
weigh the explored rows fairly (inverse propensity, in ``training.logs``).

With rate ``r`` (``ROUTER_EXPLORATION_RATE``, 0 by default: off), each ``auto`` request keeps the
policy's tier with probability ``1 - r``; otherwise it goes to a neighbour, one tier up or down,
chosen uniformly (at either end of the table the only neighbour takes it all):

    policy's tier      choice_probability = 1 - r
    each neighbour     choice_probability = r / (number of neighbours)

A policy with one tier has no neighbour, so nothing is explored and the probability is 1.
Requests that pin a tier or a model are never explored (``router.service.completions`` does not
ask).

    explorer = Explorer(0.05, random.Random(7))     # a seeded generator for tests
    decision = explorer.explore(policy, decision)
"""

from __future__ import annotations

import random

from records import Decision
from router.decision.decider import retarget
from router.decision.policy import Policy

__all__ = ["Explorer"]


class Explorer:
    """Moves a share ``rate`` of decisions to a neighbouring tier, recording the probability."""

    def __init__(self, rate: float, rng: random.Random | None = None) -> None:
        if not 0.0 <= rate < 1.0:
            raise ValueError(f"exploration rate {rate!r} is outside [0, 1)")
        self.rate = rate
        self.rng = rng or random.Random()

    def explore(self, policy: Policy, decision: Decision) -> Decision:
        """``decision``, or the same prompt sent to a neighbouring tier; either way with the
        probability that this tier was the one chosen."""
        if self.rate == 0.0:
            return decision
        index = decision.tier_index
        neighbours = [i for i in (index - 1, index + 1) if 0 <= i < len(policy.tiers)]
        if not neighbours:
            return decision
        if self.rng.random() >= self.rate:
            return decision.model_copy(update={"choice_probability": 1.0 - self.rate})
        probability = self.rate / len(neighbours)
        tier = policy.tiers[self.rng.choice(neighbours)]
        reason = (
            f"explored: sent to tier '{tier.name}' instead of '{decision.tier}'"
            f" (probability {probability:.3g})"
        )
        return retarget(decision, policy, tier, reason, choice_probability=probability)
