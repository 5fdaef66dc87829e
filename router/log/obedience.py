"""Is a model's thinking control obeyed? Observed reasoning tokens against what was sent.

``judge(record)`` compares one answered request's reasoning tokens (per sample) with the
control its model was sent (``router.decision.budgets.budget_params`` of the record's model,
budget and control style):

    sent                                   obeyed when reasoning tokens per sample are
    reasoning_effort none / minimal        <= OFF_TOKENS
    reasoning_effort low / medium          <= EFFORT_SLACK x EFFORT_TOKENS[effort]
    thinking.budget_tokens N,              <= BUDGET_SLACK x N
    thinking_token_budget N
    enable_thinking false                  <= OFF_TOKENS
    effort high, thinking on without N,    not judged (no upper bound was asked for)
    max_tokens only

``ObedienceMonitor`` counts verdicts per (model, control style) and flags a pair once at least
``min_judged`` of its requests were judged and at least ``flag_share`` of them overshot; a
flagged pair is logged once (a warning naming the model, the control and the figures) and stays
flagged until the service restarts.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from dataclasses import dataclass
from typing import Any, Final, NamedTuple

from records import DecisionRecord
from router.decision.budgets import EFFORT_TOKENS, ReasoningControl, budget_params

__all__ = ["Obedience", "ObedienceMonitor", "judge"]

logger = logging.getLogger(__name__)

OFF_TOKENS: Final = 64
EFFORT_SLACK: Final = 1.5
BUDGET_SLACK: Final = 1.2
MIN_JUDGED: Final = 20
FLAG_SHARE: Final = 0.5
OK: Final = "ok"


class Obedience(NamedTuple):
    """One request's verdict: the control sent, its limit, and whether the model kept to it."""

    model: str
    control: str
    sent: str
    limit: int
    reasoning_tokens: int

    @property
    def obeyed(self) -> bool:
        return self.reasoning_tokens <= self.limit


def judge(record: DecisionRecord) -> Obedience | None:
    """The verdict on ``record``; None when it failed or asked for no bounded thinking."""
    if record.status != OK or record.control is None:
        return None
    control = ReasoningControl(record.control)
    params = budget_params(record.model, record.budget, control)
    bound = _bound(params)
    if bound is None:
        return None
    sent, limit = bound
    per_sample = record.reasoning_tokens // record.strategy.samples
    return Obedience(record.model, control.value, sent, limit, per_sample)


def _bound(params: dict[str, Any]) -> tuple[str, int] | None:
    effort = params.get("reasoning_effort")
    if effort in ("none", "minimal"):
        return f"reasoning_effort={effort}", OFF_TOKENS
    if effort in ("low", "medium"):
        return f"reasoning_effort={effort}", round(EFFORT_SLACK * EFFORT_TOKENS[effort])
    thinking = params.get("thinking")
    if isinstance(thinking, dict) and isinstance(thinking.get("budget_tokens"), int):
        tokens = thinking["budget_tokens"]
        return f"thinking.budget_tokens={tokens}", round(BUDGET_SLACK * tokens)
    extra = params.get("extra_body") or {}
    if isinstance(extra.get("thinking_token_budget"), int):
        tokens = extra["thinking_token_budget"]
        return f"thinking_token_budget={tokens}", round(BUDGET_SLACK * tokens)
    if (extra.get("chat_template_kwargs") or {}).get("enable_thinking") is False:
        return "enable_thinking=false", OFF_TOKENS
    return None


@dataclass(frozen=True)
class Flag:
    """A (model, control) pair that ignores its control."""

    model: str
    control: str
    judged: int
    overshot: int


class ObedienceMonitor:
    """Verdicts per (model, control); flags a pair that overshoots too often, once."""

    def __init__(self, min_judged: int = MIN_JUDGED, flag_share: float = FLAG_SHARE) -> None:
        self.min_judged = min_judged
        self.flag_share = flag_share
        self._judged: Counter[tuple[str, str]] = Counter()
        self._overshot: Counter[tuple[str, str]] = Counter()
        self._flagged: set[tuple[str, str]] = set()
        self._lock = threading.Lock()

    def observe(self, verdict: Obedience) -> Flag | None:
        """Count ``verdict``; the new ``Flag`` when this verdict flags its pair, else None."""
        key = (verdict.model, verdict.control)
        with self._lock:
            self._judged[key] += 1
            self._overshot[key] += not verdict.obeyed
            judged, overshot = self._judged[key], self._overshot[key]
            if key in self._flagged or judged < self.min_judged:
                return None
            if overshot < self.flag_share * judged:
                return None
            self._flagged.add(key)
        flag = Flag(verdict.model, verdict.control, judged, overshot)
        logger.warning(
            "model '%s' ignores its thinking control (%s): %d of %d requests used more"
            " reasoning tokens than sent (e.g. %s, limit %d, used %d)",
            flag.model,
            flag.control,
            overshot,
            judged,
            verdict.sent,
            verdict.limit,
            verdict.reasoning_tokens,
        )
        return flag

    def flagged(self) -> set[tuple[str, str]]:
        with self._lock:
            return set(self._flagged)
