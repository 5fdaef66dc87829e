"""Several samples for one call (``strategy.samples = N``): N calls at once.

``majority`` returns the answer most samples agree on (``router.upstream.voting``); samples that
fail are left out of the vote, which fails only if every sample did. The vote is held only where
there is something to vote on: when the first sample to answer states no final answer
(``voting.extractable``) the others are cancelled at once and it is returned, and when fewer
than two samples state one the first is taken. ``first`` returns the first sample to succeed
and cancels the others. Usage and cost are summed over every sample that was billed: answered,
failed with an empty answer, or finished while the others were being cancelled.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import replace
from typing import Any

from records import Strategy
from router.errors import UpstreamError
from router.upstream.results import (
    Sample,
    UpstreamResult,
    Usage,
    charged,
    result_of,
    text_of,
    total_spent,
)
from router.upstream.verifiers import Verifier
from router.upstream.voting import extractable, majority_vote

__all__ = ["first", "majority", "verified"]

logger = logging.getLogger(__name__)

Call = Callable[[], Awaitable[Sample]]


async def majority(call: Call, samples: int, described: str, started: float) -> UpstreamResult:
    """The answer most of ``samples`` calls agree on, with the vote's summary. If the first
    sample to answer states no final answer (the prompt asks for prose: nothing to vote on),
    the others are cancelled and it is returned."""
    tasks = [asyncio.ensure_future(call()) for _ in range(samples)]
    try:
        for next_done in asyncio.as_completed(tasks):
            try:
                sample = await next_done
            except Exception:
                continue
            if not extractable(sample.text):
                return await _without_vote(tasks, sample, samples, started)
            break
        outcomes = await asyncio.gather(*tasks, return_exceptions=True)
    finally:
        for task in tasks:
            task.cancel()
    usage, cost = total_spent(outcomes)
    answered = [outcome for outcome in outcomes if isinstance(outcome, Sample)]
    failures = _failures(outcomes, described, usage, cost)
    if sum(extractable(sample.text) for sample in answered) < 2:
        failed = f", {len(failures)} failed" if failures else ""
        summary = f"{samples} samples{failed}: no final answers to vote on, first taken"
        return result_of(answered[0], usage, cost, started, samples, summary)
    vote = majority_vote([sample.text for sample in answered], failed=len(failures))
    return result_of(answered[vote.winner], usage, cost, started, samples, vote.summary())


async def _without_vote(
    tasks: Sequence[asyncio.Future[Sample]], sample: Sample, samples: int, started: float
) -> UpstreamResult:
    for task in tasks:
        task.cancel()
    outcomes = await asyncio.gather(*tasks, return_exceptions=True)
    usage, cost = total_spent(outcomes)  # what finished before the cancel is billed
    summary = f"{samples} samples: the first states no final answer to vote on, the rest cancelled"
    return result_of(sample, usage, cost, started, samples, summary)


async def first(call: Call, samples: int, started: float) -> UpstreamResult:
    """The first of ``samples`` calls to succeed; the others are cancelled."""
    tasks = [asyncio.ensure_future(call()) for _ in range(samples)]
    try:
        for next_done in asyncio.as_completed(tasks):
            try:
                sample = await next_done
            except Exception:
                continue
            break
        else:
            errors = _task_errors(tasks)
            error = errors[0]
            if isinstance(error, UpstreamError):
                raise charged(error, *total_spent(errors))
            raise error
    finally:
        for task in tasks:
            task.cancel()
        outcomes = await asyncio.gather(*tasks, return_exceptions=True)
    failed = len(_task_errors(tasks))
    summary = f"first of {samples} samples" + (f" ({failed} failed)" if failed else "")
    usage, cost = total_spent(outcomes)  # samples that finished meanwhile are billed too
    return result_of(sample, usage, cost, started, samples, summary)


async def verified(
    call: Call,
    strategy: Strategy,
    verifier: Verifier,
    messages: Sequence[Mapping[str, Any]],
    described: str,
    started: float,
) -> UpstreamResult:
    """The answer ``strategy`` picks, with ``verifier``'s verdict on it: ``select: verifier``
    (and an agreement check) judge every sample, the others the answer they picked."""
    if strategy.samples == 1 or (strategy.select == "first" and not verifier.judges_samples):
        if strategy.samples == 1:
            sample = await call()
            result = result_of(sample, sample.usage, sample.cost_usd, started)
        else:
            result = await first(call, strategy.samples, started)
        _, verdict = await verifier.choose([text_of(result.response)], messages)
        return replace(result, verdict=verdict)
    outcomes = await asyncio.gather(
        *(call() for _ in range(strategy.samples)), return_exceptions=True
    )
    usage, cost = total_spent(outcomes)
    answered = [outcome for outcome in outcomes if isinstance(outcome, Sample)]
    failures = _failures(outcomes, described, usage, cost)
    texts = [sample.text for sample in answered]
    if strategy.select == "majority_vote" and not verifier.judges_samples:
        vote = majority_vote(texts, failed=len(failures))
        winner, summary = vote.winner, vote.summary()
        _, verdict = await verifier.choose([texts[winner]], messages)
    else:
        winner, verdict = await verifier.choose(texts, messages)
        failed = f" ({len(failures)} failed)" if failures else ""
        summary = f"{strategy.samples} samples{failed}: {verdict.summary()}"
    result = result_of(answered[winner], usage, cost, started, strategy.samples, summary)
    return replace(result, verdict=verdict)


def _task_errors(tasks: Iterable[asyncio.Future[Sample]]) -> list[BaseException]:
    """The errors of the tasks that have failed so far, in task order."""
    done = [task for task in tasks if task.done() and not task.cancelled()]
    return [error for task in done if (error := task.exception()) is not None]


def _failures(
    outcomes: Sequence[object], described: str, usage: Usage, cost: float
) -> list[Exception]:
    """The samples' errors; raises the first (charged with every sample's cost) if no sample
    succeeded, or any cancellation."""
    errors: list[Exception] = []
    for outcome in outcomes:
        if isinstance(outcome, BaseException) and not isinstance(outcome, Exception):
            raise outcome
        if isinstance(outcome, Exception):
            errors.append(outcome)
    if len(errors) == len(outcomes):
        first_error = errors[0]
        if isinstance(first_error, UpstreamError):
            raise charged(first_error, usage, cost)
        raise first_error
    if errors:
        logger.warning(
            "%d of %d samples from %s failed, the vote goes on without them: %s",
            len(errors),
            len(outcomes),
            described,
            ", ".join(type(error).__name__ for error in errors),
        )
    return errors
