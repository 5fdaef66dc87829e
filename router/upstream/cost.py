"""litellm's price of an answer.

litellm prices every answer on its way out (``response_cost`` among the response's hidden
params; on a stream, ``usage.cost`` in the usage chunk). That price is the one reported: an answer
is priced again only when litellm left none, and a model litellm has no price for costs 0. A
target's ``price`` (the policy's) is handed to litellm as the deployment's own per-token price
(``targets.price_params``), which then wins over its price map.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from typing import Any

import litellm
from litellm.cost_calculator import completion_cost, cost_per_token

from records import Price
from router.upstream.results import Usage

__all__ = ["answering_model", "list_price", "response_cost", "stream_cost"]

PER_MILLION = 1e6


@cache
def list_price(model: str) -> Price | None:
    """``model``'s price in litellm's bundled price map (offline), or None when it has none;
    what ``router policy simulate`` prices a tier with when the policy sets no ``price``."""
    try:
        info = litellm.get_model_info(model)
    except Exception:  # litellm raises several types for a model it does not know
        return None
    prompt, completion = info.get("input_cost_per_token"), info.get("output_cost_per_token")
    if prompt is None or completion is None:
        return None
    return Price(
        input_per_mtok=float(prompt) * PER_MILLION,
        output_per_mtok=float(completion) * PER_MILLION,
    )


def _hidden_params(response: object) -> Mapping[str, Any]:
    hidden = getattr(response, "_hidden_params", None)
    return hidden if isinstance(hidden, Mapping) else {}


def answering_model(response: object, requested: str) -> str:
    """The litellm id of the deployment that answered: ``requested`` or one of its fallbacks."""
    return str(_hidden_params(response).get("litellm_model_name") or requested)


def response_cost(response: object) -> float:
    """litellm's price of a response: the one it stamped on it while answering (None when it has
    no price for the model), worked out again only if it stamped none."""
    hidden = _hidden_params(response)
    if "response_cost" in hidden:
        return _cost(hidden["response_cost"])
    try:
        return float(completion_cost(completion_response=response))
    except Exception:  # litellm raises several types for a model it has no price for
        return 0.0


def stream_cost(model: str, usage: Mapping[str, Any]) -> float:
    """The price of a streamed answer: the one litellm wrote into the usage chunk (``cost``, the
    figure it also stamps as the chunk's response_cost), else the tokens at litellm's price."""
    if "cost" in usage:
        return _cost(usage["cost"])
    return _token_cost(model, Usage.from_openai(usage))


def _cost(value: object) -> float:
    return float(value) if isinstance(value, int | float) and value >= 0 else 0.0


def _token_cost(model: str, usage: Usage) -> float:
    try:
        prompt, completion = cost_per_token(
            model=model,
            prompt_tokens=usage.prompt_tokens,
            completion_tokens=usage.completion_tokens,
        )
    except Exception:  # litellm raises several types for a model it has no price for
        return 0.0
    return float(prompt + completion)
