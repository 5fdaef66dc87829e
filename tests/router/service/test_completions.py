"""router.service.completions: which tier a request pins, and how a stream ends."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncGenerator
from typing import Any

import pytest

from records import DecisionRecord
from router.decision.decider import Decider
from router.decision.policy import Policy
from router.errors import UnknownModelError, UpstreamTimeoutError
from router.log.decision_log import DecisionRecorder
from router.service.completions import Ledger, event_stream, pinned_tier
from router.service.metrics import ServiceMetrics
from router.service.middleware import Exchange
from router.service.openai_schema import ChatCompletionRequest
from router.upstream.streaming import UpstreamStream
from tests.router.conftest import FakeScorer


def test_auto_pins_nothing(policy: Policy) -> None:
    assert pinned_tier(policy, "auto") is None


def test_a_tier_name_or_a_model_id_pins_a_tier(policy: Policy) -> None:
    assert pinned_tier(policy, "mid") == policy.tier("mid")
    assert pinned_tier(policy, "anthropic/deep-model") == policy.tier("deep")


def test_anything_else_is_an_unknown_model_naming_the_choices(policy: Policy) -> None:
    with pytest.raises(UnknownModelError) as raised:
        pinned_tier(policy, "gpt-who")

    assert raised.value.param == "model"
    assert "fast, mid, deep" in raised.value.message
    assert "openai/fast-model" in raised.value.message


class ListSink:
    def __init__(self) -> None:
        self.records: list[DecisionRecord] = []

    def write(self, record: DecisionRecord) -> None:
        self.records.append(record)

    def close(self) -> None:
        pass


async def _one_chunk_then_timeout() -> AsyncGenerator[dict[str, Any], None]:
    yield {"object": "chat.completion.chunk", "choices": [{"index": 0, "delta": {"content": "a"}}]}
    raise UpstreamTimeoutError("model 'openai/fast-model' did not answer in time")


@pytest.mark.anyio
async def test_an_error_mid_stream_is_sent_as_an_error_event_and_recorded(
    policy: Policy,
) -> None:
    sink = ListSink()
    recorder = DecisionRecorder(sink)
    recorder.start()
    exchange = Exchange()
    exchange.decided(*Decider(FakeScorer(), policy).assess_text("hello"))
    body = ChatCompletionRequest(
        model="auto", messages=[{"role": "user", "content": "hello"}], stream=True
    )
    source = UpstreamStream(
        _one_chunk_then_timeout(),
        model="openai/fast-model",
        include_usage=False,
        started=time.perf_counter(),
    )
    ledger = Ledger(recorder, ServiceMetrics(), keep_prompt=False)
    sent = [event async for event in event_stream(source, exchange, body, ledger)]
    recorder.close()

    assert len(sent) == 2
    assert json.loads(sent[0].removeprefix("data: "))["choices"][0]["delta"] == {"content": "a"}
    error = json.loads(sent[1].removeprefix("data: "))["error"]
    assert (error["code"], error["type"]) == ("UpstreamTimeoutError", "upstream_error")
    (record,) = sink.records
    assert (record.status, record.stream) == ("UpstreamTimeoutError", True)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
