"""One deadline per request: the tier's ``timeout_s`` covers everything done for it.

litellm's timeout is per attempt: with retries, fallbacks and samples a request could wait a
multiple of it (a hanging upstream with ``timeout_s: 30`` and one fallback kept a client 60 s).
``within_deadline`` bounds the whole call, retries, fallbacks and samples included, and turns
its expiry into an ``UpstreamTimeoutError`` (504) naming the deadline:

    async with within_deadline(target):
        result = await upstream.complete(target, messages, params)

A stream's deadline covers its opening, up to the first chunk with a choice; once the answer
flows, each read has litellm's per-attempt timeout (``stream_timeout``, also ``timeout_s``).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from router.errors import UpstreamTimeoutError
from router.upstream.targets import TargetFields

__all__ = ["within_deadline"]


@asynccontextmanager
async def within_deadline(target: TargetFields) -> AsyncIterator[None]:
    try:
        async with asyncio.timeout(target.timeout_s):
            yield
    except TimeoutError as exc:
        fallbacks = " and its fallbacks" if target.fallbacks else ""
        raise UpstreamTimeoutError(
            f"model '{target.model}'{fallbacks} gave no answer within this request's deadline of"
            f" {target.timeout_s:g} s (the tier's timeout_s, retries and samples included)",
            model=target.model,
        ) from exc
