"""What a tier's tokens cost: its ``price`` in the policy, else litellm's bundled price list.

    prices = tier_prices(policy)        # tier name -> Price, or None when nobody knows it
    cost = request_cost(price, prompt_tokens, completion_tokens)

Reasoning tokens are billed as output and are part of ``completion_tokens`` (as providers report
them), so they are not added again. A tier whose model has no known price is costed from the
log's own ``cost_usd`` (the price litellm stamped when it answered), which ``Simulation`` reports.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from records import Price
from router.decision.policy import Policy, Tier
from router.upstream.cost import list_price

__all__ = ["request_cost", "tier_prices"]

FloatArray = npt.NDArray[np.float64]
PER_MILLION = 1e6


def tier_prices(policy: Policy) -> dict[str, Price | None]:
    return {tier.name: tier_price(tier) for tier in policy.tiers}


def tier_price(tier: Tier) -> Price | None:
    return tier.price if tier.price is not None else list_price(tier.model)


def request_cost(
    price: Price, prompt_tokens: FloatArray, completion_tokens: FloatArray
) -> FloatArray:
    """USD per request at ``price``."""
    return (
        prompt_tokens * price.input_per_mtok + completion_tokens * price.output_per_mtok
    ) / PER_MILLION
