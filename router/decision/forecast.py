"""Cost and latency before the call: quantiles of what each tier's answers took.

    forecaster = Forecaster()
    forecaster.observe(Observation("deep", "openai/o3", prompt_tokens=40, output_tokens=3100,
                                   latency_ms=9200.0))
    forecast = forecaster.forecast(tier, prices, prompt_tokens=estimate_prompt_tokens(messages))

Per tier and model the forecaster keeps the last ``window`` answers (one sample each: a vote's
tokens are divided by its samples, a cascade's steps are observed at their own tiers). With at
least ``min_observations`` of them, the forecast's output tokens (completion, reasoning
included) and latency are their 50th and 90th percentiles (``source: log``); with fewer, the
output tokens come from the tier's budget: the thinking it allows plus ``ANSWER_TOKENS`` at the
median, the whole output ceiling at the 90th percentile, and the latency is unknown
(``source: budget``). Cost = prompt tokens x input price + output tokens x output price, times
the strategy's samples. A cascade's possible escalation is not included: the forecast is of the
tier chosen.

Prompt tokens are estimated from the messages' text, ``CHARS_PER_TOKEN`` characters a token
(English prose with the usual tokenizers) plus ``MESSAGE_OVERHEAD_TOKENS`` per message.

Thread-safe: the service observes on its event loop and seeds from the log in a worker thread.
"""

from __future__ import annotations

import math
import threading
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal, NamedTuple

import numpy as np

from records import Budget, Forecast, Strategy
from router.decision.budgets import output_ceiling, thinking_tokens

__all__ = [
    "ANSWER_TOKENS",
    "Forecaster",
    "Observation",
    "TokenPrice",
    "estimate_prompt_tokens",
]

ANSWER_TOKENS: Final = 256
CHARS_PER_TOKEN: Final = 4.0
MESSAGE_OVERHEAD_TOKENS: Final = 4
MIN_OBSERVATIONS: Final = 20
WINDOW: Final = 2000


class TokenPrice(NamedTuple):
    """USD per token, prompt and output."""

    prompt: float
    output: float


class Observation(NamedTuple):
    """One sample's answer at a tier."""

    tier: str
    model: str
    prompt_tokens: int
    output_tokens: int
    latency_ms: float | None


class ForecastTier(NamedTuple):
    """What the forecast needs of a policy tier (``router.decision.policy.Tier`` fits)."""

    name: str
    model: str
    budget: Budget
    strategy: Strategy


@dataclass
class _History:
    output: deque[int]
    latency: deque[float]


def estimate_prompt_tokens(messages: Sequence[Mapping[str, Any]]) -> int:
    """The prompt's tokens, estimated from its characters (any text content counts)."""
    chars = sum(len(_text(message.get("content"))) for message in messages)
    return math.ceil(chars / CHARS_PER_TOKEN) + MESSAGE_OVERHEAD_TOKENS * len(messages)


def _text(content: object) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(str(part.get("text", "")) for part in content if isinstance(part, dict))
    return ""


class Forecaster:
    """Rolling per-tier token and latency quantiles, and forecasts from them."""

    def __init__(self, min_observations: int = MIN_OBSERVATIONS, window: int = WINDOW) -> None:
        self.min_observations = min_observations
        self.window = window
        self._histories: dict[tuple[str, str], _History] = {}
        self._lock = threading.Lock()

    def observe(self, observation: Observation) -> None:
        key = (observation.tier, observation.model)
        with self._lock:
            history = self._histories.get(key)
            if history is None:
                history = _History(deque(maxlen=self.window), deque(maxlen=self.window))
                self._histories[key] = history
            history.output.append(observation.output_tokens)
            if observation.latency_ms is not None:
                history.latency.append(observation.latency_ms)

    def observe_all(self, observations: Iterable[Observation]) -> None:
        for observation in observations:
            self.observe(observation)

    def observations(self, tier: str, model: str) -> int:
        with self._lock:
            history = self._histories.get((tier, model))
            return 0 if history is None else len(history.output)

    def forecast(
        self, tier: ForecastTier, price: TokenPrice | None, prompt_tokens: int
    ) -> Forecast:
        """The forecast for one request of ``prompt_tokens`` at ``tier``."""
        with self._lock:
            history = self._histories.get((tier.name, tier.model))
            outputs = list(history.output) if history is not None else []
            latencies = list(history.latency) if history is not None else []
        if len(outputs) >= self.min_observations:
            low, high = (round(float(q)) for q in np.percentile(outputs, [50, 90]))
            source: Literal["log", "budget"] = "log"
        else:
            low, high = _budget_tokens(tier.budget)
            source = "budget"
        latency = (
            [float(q) for q in np.percentile(latencies, [50, 90])]
            if source == "log" and len(latencies) >= self.min_observations
            else [None, None]
        )
        samples = tier.strategy.samples
        return Forecast(
            source=source,
            observations=len(outputs),
            prompt_tokens=prompt_tokens,
            output_tokens_p50=low * samples,
            output_tokens_p90=high * samples,
            cost_usd_p50=_cost(price, prompt_tokens, low, samples),
            cost_usd_p90=_cost(price, prompt_tokens, high, samples),
            latency_ms_p50=latency[0],
            latency_ms_p90=latency[1],
        )


def _budget_tokens(budget: Budget) -> tuple[int, int]:
    """Output tokens a budget allows: (thinking + a typical answer, the whole ceiling)."""
    thinking = thinking_tokens(budget)
    ceiling = output_ceiling(budget, thinking)
    return min(thinking + ANSWER_TOKENS, ceiling), ceiling


def _cost(price: TokenPrice | None, prompt: int, output: int, samples: int) -> float | None:
    if price is None:
        return None
    return samples * (prompt * price.prompt + output * price.output)
