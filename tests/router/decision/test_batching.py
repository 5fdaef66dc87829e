from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest

from classifiers.batched import text_list
from classifiers.errors import UnencodableTextError
from router.decision.batching import DecisionBatcher
from router.decision.decider import Decider
from router.decision.policy import Policy
from router.errors import ClassifierError, EmptyPromptError
from tests.router.conftest import FakeScorer

pytestmark = pytest.mark.anyio


@dataclass
class GatedScorer(FakeScorer):
    """A FakeScorer whose first call waits for ``release``, so that requests queue behind it."""

    release: threading.Event = field(default_factory=threading.Event)
    started: threading.Event = field(default_factory=threading.Event)
    fail_on: str | None = None

    def embed_and_score(self, texts: Sequence[str]) -> tuple[Any, Any]:
        self.started.set()
        if not self.release.wait(timeout=10):
            raise AssertionError("the test never released the scorer")
        if self.fail_on in texts:
            raise ClassifierError(f"cannot score {self.fail_on!r}")
        return super().embed_and_score(texts)


def chat(text: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": text}]


async def started(scorer: GatedScorer) -> None:
    while not scorer.started.is_set():
        await asyncio.sleep(0.001)


async def test_a_lone_request_is_scored_at_once_alone(policy: Policy) -> None:
    scorer = FakeScorer({"hi": 0.05})
    decider = Decider(scorer, policy)

    assessment = await DecisionBatcher(decider).assess(decider.prepare(chat("hi")))

    assert (assessment.decision.score, assessment.decision.tier) == (0.05, "fast")
    assert scorer.calls == [["hi"]]


async def test_requests_that_arrive_while_the_encoder_is_busy_share_one_pass(
    policy: Policy,
) -> None:
    texts = [f"question {n}" for n in range(9)]
    scorer = GatedScorer({text: n / 10 for n, text in enumerate(texts)})
    decider = Decider(scorer, policy)
    batcher = DecisionBatcher(decider, max_batch=4)

    first = asyncio.create_task(batcher.assess(decider.prepare(chat(texts[0]))))
    await started(scorer)
    rest = [asyncio.create_task(batcher.assess(decider.prepare(chat(t)))) for t in texts[1:]]
    await asyncio.sleep(0.01)
    scorer.release.set()
    assessments = await asyncio.gather(first, *rest)

    assert scorer.calls == [texts[:1], texts[1:5], texts[5:9]]
    assert [a.decision.score for a in assessments] == [n / 10 for n in range(9)]
    assert [a.prompt.text for a in assessments] == texts
    assert all(a.decision.decision_ms > 0 for a in assessments)


async def test_a_request_cancelled_while_queued_is_not_scored(policy: Policy) -> None:
    scorer = GatedScorer()
    decider = Decider(scorer, policy)
    batcher = DecisionBatcher(decider)

    first = asyncio.create_task(batcher.assess(decider.prepare(chat("first"))))
    await started(scorer)
    gone = asyncio.create_task(batcher.assess(decider.prepare(chat("gone"))))
    kept = asyncio.create_task(batcher.assess(decider.prepare(chat("kept"))))
    await asyncio.sleep(0.01)
    gone.cancel()
    scorer.release.set()

    assert (await first).prompt.text == "first"
    assert (await kept).prompt.text == "kept"
    with pytest.raises(asyncio.CancelledError):
        await gone
    assert scorer.calls == [["first"], ["kept"]]


async def test_one_poisoned_request_in_a_batch_of_24_fails_alone(policy: Policy) -> None:
    scorer = GatedScorer(fail_on="poison")
    decider = Decider(scorer, policy)
    batcher = DecisionBatcher(decider)

    first = asyncio.create_task(batcher.assess(decider.prepare(chat("first"))))
    await started(scorer)
    texts = [f"bystander {n}" for n in range(23)]
    texts.insert(11, "poison")
    batch = [asyncio.create_task(batcher.assess(decider.prepare(chat(t)))) for t in texts]
    await asyncio.sleep(0.01)
    scorer.release.set()

    assert (await first).prompt.text == "first"
    outcomes = await asyncio.gather(*batch, return_exceptions=True)
    failed = [text for text, out in zip(texts, outcomes, strict=True) if isinstance(out, Exception)]
    assert failed == ["poison"]
    assert isinstance(outcomes[11], ClassifierError)
    assert "cannot score 'poison'" in str(outcomes[11])
    assert [out.prompt.text for out in outcomes if not isinstance(out, BaseException)] == [
        t for t in texts if t != "poison"
    ]
    after = await batcher.assess(decider.prepare(chat("later")))
    assert after.prompt.text == "later"


@dataclass
class CheckingScorer(GatedScorer):
    """A GatedScorer that refuses invalid Unicode the way the real encoders do."""

    def embed_and_score(self, texts: Sequence[str]) -> tuple[Any, Any]:
        text_list(texts)
        return super().embed_and_score(texts)


async def test_a_text_the_encoder_cannot_encode_fails_alone_and_its_batch_is_scored(
    policy: Policy,
) -> None:
    scorer = CheckingScorer()
    decider = Decider(scorer, policy)
    batcher = DecisionBatcher(decider)

    first = asyncio.create_task(batcher.assess(decider.prepare(chat("first"))))
    await started(scorer)
    batch = [
        asyncio.create_task(batcher.assess(decider.prepare(chat(text))))
        for text in ("before", "bad \ud800", "after")
    ]
    await asyncio.sleep(0.01)
    scorer.release.set()

    assert (await first).prompt.text == "first"
    assert (await batch[0]).prompt.text == "before" and (await batch[2]).prompt.text == "after"
    with pytest.raises(UnencodableTextError, match="text 0: lone surrogate '\\\\ud800'") as info:
        await batch[1]
    assert info.value.status_code == 400
    assert scorer.calls[-1] == ["before", "after"]


async def test_bad_messages_fail_before_they_queue(policy: Policy) -> None:
    scorer = FakeScorer()
    decider = Decider(scorer, policy)

    with pytest.raises(EmptyPromptError):
        await DecisionBatcher(decider).assess(decider.prepare(chat("   ")))
    assert scorer.calls == []


def test_assess_batch_keeps_each_texts_own_embedding(policy: Policy) -> None:
    class Echo(FakeScorer):
        def embed_and_score(self, texts: Sequence[str]) -> tuple[Any, Any]:
            embeddings = np.array([[len(text), 0, 0] for text in texts], dtype=np.float32)
            return embeddings, np.full(len(texts), 0.5)

    decider = Decider(Echo(), policy)

    assessments = decider.assess_batch([decider.prepare_text(t) for t in ("a", "bbb", "cc")])

    firsts = [float(np.frombuffer(a.prompt.embedding, np.float16)[0]) for a in assessments]
    assert firsts == [1.0, 3.0, 2.0]


def test_max_batch_below_one_is_refused(policy: Policy) -> None:
    with pytest.raises(ValueError, match="max_batch must be at least 1, got 0"):
        DecisionBatcher(Decider(FakeScorer(), policy), max_batch=0)


@dataclass
class MisindexedScorer(GatedScorer):
    """Raises an UnencodableTextError whose index names no text of the batch."""

    def embed_and_score(self, texts: Sequence[str]) -> tuple[Any, Any]:
        if len(texts) > 1:
            raise UnencodableTextError({len(texts) + 5: "lone surrogate"})
        return super().embed_and_score(texts)


async def test_an_encoding_error_naming_no_text_of_the_batch_reaches_all_of_it(
    policy: Policy,
) -> None:
    scorer = MisindexedScorer()
    decider = Decider(scorer, policy)
    batcher = DecisionBatcher(decider)

    first = asyncio.create_task(batcher.assess(decider.prepare(chat("first"))))
    await started(scorer)
    batch = [
        asyncio.create_task(batcher.assess(decider.prepare(chat(text)))) for text in ("one", "two")
    ]
    await asyncio.sleep(0.01)
    scorer.release.set()

    assert (await first).prompt.text == "first"
    for task in batch:
        with pytest.raises(UnencodableTextError, match="cannot encode 1 of the texts"):
            await task
