"""Pooled upstream connections: reused for less time than upstreams keep them open, and a
request that went out on a connection the upstream had closed is sent once more.

litellm sends every call through an aiohttp pool that reuses an idle connection for up to 15 s
(its ``AIOHTTP_KEEPALIVE_TIMEOUT``). Servers built on uvicorn, vLLM's OpenAI server among them,
close an idle connection after 5 s. A request written to a connection the server is closing
fails with "Server disconnected" before any answer, which litellm reports as an
``InternalServerError``: like a refused connection, it is not retried, so the request goes to
its fallbacks or fails with a 502. The pool sees the server's close only when its event loop
reads it, so on a busy service a burst of requests can go out on closed connections at once.

``reuse_idle_connections_briefly`` makes the pools litellm opens from then on reuse an idle
connection for at most ``IDLE_REUSE_S`` (4 s, below those servers' 5 s); a connection idle for
longer is closed and the request opens a new one. An ``AIOHTTP_KEEPALIVE_TIMEOUT`` set in the
environment (litellm's own setting, read when litellm is imported) is left to apply instead.

The limit narrows the race but cannot close it: a service whose event loop is seconds behind
reads the answer that ends a connection's last use, and so starts its idle clock, late. So
``resent_if_dropped(send, described)`` sends a call once more, at once, when the upstream
closed or reset the connection before any answer came (``router.upstream.failures.dropped``);
a call dropped twice fails as before. A call the upstream did receive before it dropped the
connection is then sent and billed twice; that is the cost of not failing the request, the
choice OpenAI's own client makes for connection errors.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Awaitable, Callable
from typing import Final, TypeVar

from router.upstream.failures import dropped

__all__ = ["IDLE_REUSE_S", "KEEPALIVE_ENV", "resent_if_dropped", "reuse_idle_connections_briefly"]

logger = logging.getLogger(__name__)
T = TypeVar("T")

IDLE_REUSE_S: Final = 4
KEEPALIVE_ENV: Final = "AIOHTTP_KEEPALIVE_TIMEOUT"


def reuse_idle_connections_briefly() -> None:
    """Cap how long litellm's aiohttp pools reuse an idle connection at ``IDLE_REUSE_S``, unless
    ``AIOHTTP_KEEPALIVE_TIMEOUT`` is set; pools already open keep their own limit."""
    if KEEPALIVE_ENV in os.environ:
        return
    from litellm.llms.custom_httpx import http_handler  # imported where used: litellm is slow

    # litellm reads this module constant each time it opens a pool (its TCPConnector's
    # keepalive_timeout); it offers no other way to set it once imported.
    setattr(http_handler, KEEPALIVE_ENV, IDLE_REUSE_S)


async def resent_if_dropped(
    send: Callable[[], Awaitable[T]], described: str, on_resend: Callable[[], None] | None = None
) -> T:
    """``await send()``, and once more if the upstream closed or reset the connection before it
    answered; ``described`` names the call in the log line that says so, and ``on_resend`` (if
    given) is called before the second send."""
    try:
        return await send()
    except Exception as exc:
        if not dropped(exc):
            raise
        logger.info("%s: the connection closed before an answer came; sending again", described)
        if on_resend is not None:
            on_resend()
    return await send()
