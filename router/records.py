"""The contract between serving and training: what was decided, and what came of it."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Effort = Literal["none", "low", "medium", "high"]
Selection = Literal["first", "majority_vote"]


class Budget(BaseModel):
    """A thinking budget: an effort level and/or a token budget, under an output ceiling."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    effort: Effort | None = None
    budget_tokens: int | None = Field(default=None, ge=0)
    max_tokens: int = Field(ge=1)

    @model_validator(mode="after")
    def _budget_under_ceiling(self) -> Budget:
        if self.budget_tokens is not None and self.budget_tokens >= self.max_tokens:
            raise ValueError(
                f"budget_tokens {self.budget_tokens} must be below max_tokens {self.max_tokens}"
                " so that the answer has room after the thinking"
            )
        return self

    def label(self) -> str:
        """Short form for headers and tables, e.g. ``high/8192/16384``."""
        effort = self.effort or "-"
        tokens = "-" if self.budget_tokens is None else str(self.budget_tokens)
        return f"{effort}/{tokens}/{self.max_tokens}"


class Strategy(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    samples: int = Field(default=1, ge=1, le=16)
    select: Selection = "majority_vote"


class Decision(BaseModel):
    """Which model and budget a prompt gets, and why."""

    model_config = ConfigDict(frozen=True)

    score: float = Field(ge=0.0, le=1.0)
    tier: str
    model: str
    budget: Budget
    strategy: Strategy
    fallbacks: tuple[str, ...] = ()
    timeout_s: float
    classifier_version: str
    policy_version: str
    reasons: tuple[str, ...] = ()
    decision_ms: float = 0.0
    choice_probability: float = Field(default=1.0, gt=0.0, le=1.0)


class DecisionRecord(BaseModel):
    """One answered (or failed) chat request: the decision, what was called and what it cost.

    ``status`` is ``ok``, ``cancelled`` (the client left), ``internal_error``, or the error's
    class name (``UpstreamTimeoutError``...). ``prompt_hash`` is the sha256 of the scored text;
    ``prompt`` is that text itself, when the service keeps prompts (``store_prompt_text``).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    request_id: str
    time: datetime
    requested_model: str
    stream: bool
    prompt_hash: str
    prompt: str | None = None
    score: float = Field(ge=0.0, le=1.0)
    tier: str
    model: str
    budget: Budget
    strategy: Strategy
    classifier_version: str
    policy_version: str
    choice_probability: float = Field(gt=0.0, le=1.0)
    decision_ms: float
    upstream_model: str | None = None
    prompt_tokens: int = Field(default=0, ge=0)
    completion_tokens: int = Field(default=0, ge=0)
    reasoning_tokens: int = Field(default=0, ge=0)
    cost_usd: float = Field(default=0.0, ge=0.0)
    upstream_ms: float | None = None
    latency_ms: float
    vote: str | None = None
    status: str
