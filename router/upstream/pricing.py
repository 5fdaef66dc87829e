"""What a model's tokens cost, for forecasts: the policy's price, else litellm's price map.

``token_price(model, price)`` is USD per prompt token and per output token: the tier's ``price``
when the policy sets one (it is also what litellm bills the answers at, ``router.upstream.client``),
else litellm's bundled map; None for a model the map does not know (a self-hosted one without a
``price``), whose answers the log records at 0.
"""

from __future__ import annotations

import os

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("LITELLM_OFFLINE_MODE", "true")

from litellm.cost_calculator import cost_per_token

from records import Price
from router.decision.forecast import TokenPrice

__all__ = ["token_price"]


def token_price(model: str, price: Price | None) -> TokenPrice | None:
    """USD per prompt and per output token for ``model`` (``price`` wins); None if unknown."""
    if price is not None:
        return TokenPrice(price.input_per_mtok / 1e6, price.output_per_mtok / 1e6)
    try:
        prompt, output = cost_per_token(model=model, prompt_tokens=1, completion_tokens=1)
    except Exception:  # litellm raises several types for a model it has no price for
        return None
    return TokenPrice(float(prompt), float(output))
