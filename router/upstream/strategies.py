"""Several samples for one call (``strategy.samples = N``): N calls at once.

``majority`` returns the answer most samples agree on (``router.upstream.voting``); samples that
fail are left out of the vote, which fails only if every sample did. ``first`` returns the first
sample to succeed and cancels the others. Usage and cost are summed over the samples answered.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import replace
from typing import Any

from records import Strategy
from router.upstream.results import Sample, UpstreamResult, Usage, result_of, text_of
from router.upstream.verifiers import Verifier
from router.upstream.voting import majority_vote

__all__ = ["first", "majority", "verified"]

logger = logging.getLogger(__name__)

Call = Callable[[], Awaitable[Sample]]


async def majority(call: Call, samples: int, described: str, started: float) -> UpstreamResult:
    """The answer most of ``samples`` calls agree on, with the vote's summary."""
    outcomes = await asyncio.gather(*(call() for _ in range(samples)), return_exceptions=True)
    answered = [outcome for outcome in outcomes if isinstance(outcome, Sample)]
    failures = _failures(outcomes, described)
    vote = majority_vote([sample.text for sample in answered], failed=len(failures))
    usage = sum((sample.usage for sample in answered), Usage())
    cost = sum(sample.cost_usd for sample in answered)
    return result_of(answered[vote.winner], usage, cost, started, samples, vote.summary())


async def first(call: Call, samples: int, started: float) -> UpstreamResult:
    """The first of ``samples`` calls to succeed; the others are cancelled."""
    tasks = [asyncio.ensure_future(call()) for _ in range(samples)]
    try:
        for next_done in asyncio.as_completed(tasks):
            try:
                sample = await next_done
            except Exception:
                continue
            failed = len(_task_errors(tasks))
            summary = f"first of {samples} samples" + (f" ({failed} failed)" if failed else "")
            return result_of(sample, sample.usage, sample.cost_usd, started, samples, summary)
        raise _task_errors(tasks)[0]
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


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
    answered = [outcome for outcome in outcomes if isinstance(outcome, Sample)]
    failures = _failures(outcomes, described)
    texts = [sample.text for sample in answered]
    if strategy.select == "majority_vote" and not verifier.judges_samples:
        vote = majority_vote(texts, failed=len(failures))
        winner, summary = vote.winner, vote.summary()
        _, verdict = await verifier.choose([texts[winner]], messages)
    else:
        winner, verdict = await verifier.choose(texts, messages)
        failed = f" ({len(failures)} failed)" if failures else ""
        summary = f"{strategy.samples} samples{failed}: {verdict.summary()}"
    usage = sum((sample.usage for sample in answered), Usage())
    cost = sum(sample.cost_usd for sample in answered)
    result = result_of(answered[winner], usage, cost, started, strategy.samples, summary)
    return replace(result, verdict=verdict)


def _task_errors(tasks: Iterable[asyncio.Future[Sample]]) -> list[BaseException]:
    """The errors of the tasks that have failed so far, in task order."""
    done = [task for task in tasks if task.done() and not task.cancelled()]
    return [error for task in done if (error := task.exception()) is not None]


def _failures(outcomes: Sequence[object], described: str) -> list[Exception]:
    """The samples' errors; raises the first if no sample succeeded, or any cancellation."""
    errors: list[Exception] = []
    for outcome in outcomes:
        if isinstance(outcome, BaseException) and not isinstance(outcome, Exception):
            raise outcome
        if isinstance(outcome, Exception):
            errors.append(outcome)
    if len(errors) == len(outcomes):
        raise errors[0]
    if errors:
        logger.warning(
            "%d of %d samples from %s failed, the vote goes on without them: %s",
            len(errors),
            len(outcomes),
            described,
            ", ".join(type(error).__name__ for error in errors),
        )
    return errors
