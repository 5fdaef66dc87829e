from __future__ import annotations

import logging
from typing import Any

import pytest

from records import Budget, DecisionRecord, Strategy
from router.log.obedience import BUDGET_SLACK, OFF_TOKENS, ObedienceMonitor, judge
from tests.router.conftest import decision_record


def record(reasoning: int, budget: Budget, control: str | None, **extra: Any) -> DecisionRecord:
    fields = {"reasoning_tokens": reasoning, "budget": budget, "control": control}
    fields |= {"strategy": Strategy(samples=1, select="first")} | extra
    return decision_record(**fields)


LOW = Budget(effort="low", max_tokens=8192)


@pytest.mark.parametrize(
    ("model", "budget", "control", "sent", "limit"),
    [
        ("openai/o3-mini", LOW, "openai_effort", "reasoning_effort=low", 3072),
        (
            "openai/gpt-5.1",
            Budget(effort="none", max_tokens=512),
            "openai_effort",
            "reasoning_effort=none",
            OFF_TOKENS,
        ),
        (
            "anthropic/claude-x",
            Budget(budget_tokens=2000, max_tokens=8000),
            "anthropic_thinking",
            "thinking.budget_tokens=2000",
            round(2000 * BUDGET_SLACK),
        ),
        (
            "openai/qwen",
            Budget(budget_tokens=1000, max_tokens=4000),
            "chat_template",
            "thinking_token_budget=1000",
            round(1000 * BUDGET_SLACK),
        ),
        (
            "openai/qwen",
            Budget(effort="none", max_tokens=4000),
            "chat_template",
            "enable_thinking=false",
            OFF_TOKENS,
        ),
    ],
)
def test_each_control_style_is_judged_against_what_was_sent(
    model: str, budget: Budget, control: str, sent: str, limit: int
) -> None:
    verdict = judge(record(limit + 1, budget, control, model=model))

    assert verdict is not None
    assert (verdict.sent, verdict.limit, verdict.obeyed) == (sent, limit, False)


def test_unbounded_controls_failed_requests_and_old_records_are_not_judged() -> None:
    high = Budget(effort="high", max_tokens=30000)
    assert judge(record(9000, high, "openai_effort", model="openai/o3")) is None
    assert judge(record(9000, LOW, "openai_effort", status="UpstreamError")) is None
    assert judge(record(9000, LOW, None)) is None


def test_a_vote_is_judged_per_sample() -> None:
    three = Strategy(samples=3, select="majority_vote")
    verdict = judge(record(3 * 3000, LOW, "openai_effort", model="openai/o3", strategy=three))

    assert verdict is not None and verdict.reasoning_tokens == 3000 and verdict.obeyed


def test_the_monitor_flags_a_model_once_after_enough_overshoots(
    caplog: pytest.LogCaptureFixture,
) -> None:
    monitor = ObedienceMonitor(min_judged=10, flag_share=0.5)
    ignoring = judge(record(6000, LOW, "openai_effort", model="openai/o3"))
    obeying = judge(record(100, LOW, "openai_effort", model="openai/o4"))
    assert ignoring is not None and obeying is not None

    with caplog.at_level(logging.WARNING, logger="router.log.obedience"):
        flags = [monitor.observe(ignoring) for _ in range(30)]
        flags += [monitor.observe(obeying) for _ in range(30)]

    assert [index for index, flag in enumerate(flags) if flag is not None] == [9]
    assert monitor.flagged() == {("openai/o3", "openai_effort")}
    [line] = caplog.messages
    assert line.startswith("model 'openai/o3' ignores its thinking control (openai_effort)")
