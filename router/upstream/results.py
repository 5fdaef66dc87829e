"""What a call returns: token usage, the answer, and one sample of several. No litellm here, so
the metrics and the service can read these types without loading it."""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from router.errors import UpstreamError
from router.upstream.verifiers import Verdict

__all__ = [
    "Chunk",
    "Message",
    "Sample",
    "UpstreamResult",
    "Usage",
    "charged",
    "elapsed_ms",
    "result_of",
    "spent",
    "text_of",
    "total_spent",
]

Message = Mapping[str, Any]
Chunk = dict[str, Any]


@dataclass(frozen=True)
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0
    reasoning_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.prompt_tokens + other.prompt_tokens,
            self.completion_tokens + other.completion_tokens,
            self.reasoning_tokens + other.reasoning_tokens,
        )

    @classmethod
    def from_openai(cls, usage: Mapping[str, Any] | None) -> Usage:
        """Read an OpenAI ``usage`` object (reasoning tokens from completion_tokens_details)."""
        if not usage:
            return cls()
        details = usage.get("completion_tokens_details") or {}
        return cls(
            int(usage.get("prompt_tokens") or 0),
            int(usage.get("completion_tokens") or 0),
            int(details.get("reasoning_tokens") or 0),
        )

    def as_openai(self) -> dict[str, Any]:
        return {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.total_tokens,
            "completion_tokens_details": {"reasoning_tokens": self.reasoning_tokens},
        }


@dataclass(frozen=True)
class UpstreamResult:
    """One answer, however many calls it took.

    ``response`` is the OpenAI-shaped completion; with several samples it is the chosen one, its
    ``usage`` replaced by the sum over all samples. ``model`` is the litellm id that answered
    (a fallback's, if one was used).
    """

    response: dict[str, Any]
    model: str
    usage: Usage
    cost_usd: float
    latency_ms: float
    samples: int = 1
    vote: str | None = None
    """E.g. ``3 samples: 2x'42', 1x'41'``; None for a single sample."""
    verdict: Verdict | None = None
    """The verifier's verdict on the answer, when the call was given one."""


@dataclass(frozen=True)
class Sample:
    response: dict[str, Any]
    model: str
    usage: Usage
    cost_usd: float

    @property
    def text(self) -> str:
        return text_of(self.response)


def text_of(response: Mapping[str, Any]) -> str:
    """The content of a completion's first choice."""
    choices = response.get("choices") or [{}]
    return str((choices[0].get("message") or {}).get("content") or "")


def elapsed_ms(started: float) -> float:
    """Milliseconds since ``started`` (a ``time.perf_counter()`` reading)."""
    return (time.perf_counter() - started) * 1000.0


def result_of(
    sample: Sample,
    usage: Usage,
    cost: float,
    started: float,
    samples: int = 1,
    vote: str | None = None,
) -> UpstreamResult:
    """The answer ``sample`` gives, with the usage and cost of all ``samples`` taken for it."""
    response = sample.response if samples == 1 else sample.response | {"usage": usage.as_openai()}
    return UpstreamResult(response, sample.model, usage, cost, elapsed_ms(started), samples, vote)


def charged(error: UpstreamError, usage: Usage, cost_usd: float) -> UpstreamError:
    """``error``, noting what the request spent before it failed (an empty answer is billed)."""
    error.spent_tokens = (usage.prompt_tokens, usage.completion_tokens, usage.reasoning_tokens)
    error.spent_cost_usd = cost_usd
    return error


def spent(error: BaseException) -> tuple[Usage, float]:
    """What a failed call still cost (tokens and dollars), as ``charged`` noted it."""
    if not isinstance(error, UpstreamError):
        return Usage(), 0.0
    return Usage(*error.spent_tokens), error.spent_cost_usd


def total_spent(outcomes: Iterable[object]) -> tuple[Usage, float]:
    """Tokens and dollars of every sample: answered, or failed after being billed."""
    usage, cost = Usage(), 0.0
    for outcome in outcomes:
        if isinstance(outcome, Sample):
            usage, cost = usage + outcome.usage, cost + outcome.cost_usd
        elif isinstance(outcome, BaseException):
            lost_usage, lost_cost = spent(outcome)
            usage, cost = usage + lost_usage, cost + lost_cost
    return usage, cost
