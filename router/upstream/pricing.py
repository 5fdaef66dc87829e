"""What a model's tokens cost, for forecasts: the policy's price, else litellm's price map.

``token_price(model, price)`` is USD per prompt token and per output token: the tier's ``price``
when the policy sets one (it is also what litellm bills the answers at), else litellm's bundled
map (``router.upstream.cost.list_price``, which ``router policy simulate`` prices with too);
None for a model the map does not know (a self-hosted one without a ``price``), whose answers
the log records at 0.
"""

from __future__ import annotations

from records import Price
from router.decision.forecast import TokenPrice
from router.upstream.cost import list_price

__all__ = ["token_price"]


def token_price(model: str, price: Price | None) -> TokenPrice | None:
    """USD per prompt and per output token for ``model`` (``price`` wins); None if unknown."""
    found = price if price is not None else list_price(model)
    if found is None:
        return None
    return TokenPrice(found.input_per_mtok / 1e6, found.output_per_mtok / 1e6)
