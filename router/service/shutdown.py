"""Graceful shutdown for streams: drain for a while, then end each open stream with an error.

uvicorn, on SIGTERM, stops accepting, lets open responses finish for ``timeout_graceful_shutdown``
and then cancels them: a stream cut that way ends with neither ``[DONE]`` nor an error, and
uvicorn re-raises the signal, so the process exits -15. Here:

    shutdown = Shutdown(drain_s=settings.shutdown_drain_s)     # app.state.shutdown
    GracefulServer(config, shutdown).run()                     # `router serve`

``GracefulServer`` tells ``shutdown`` when the signal comes (and does not re-raise it: the exit
code is 0). Streams keep going for ``drain_s``; then ``shutdown.stopping`` is set and every
stream still open sends one ``data: {"error": ...}`` event (``ServiceShuttingDownError``, which
the OpenAI client raises) and ends, well before uvicorn's own limit (``drain_s`` + 5 s). The
decision record of such a request says ``ServiceShuttingDownError``.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from types import FrameType
from typing import Final

import uvicorn

__all__ = ["GRACE_S", "GracefulServer", "Shutdown"]

logger = logging.getLogger(__name__)

GRACE_S: Final = 5.0
"""uvicorn's limit is the drain plus this: time for the error events to go out."""


class Shutdown:
    """When the service stops, and when open streams must end."""

    def __init__(self, drain_s: float) -> None:
        self.drain_s = drain_s
        self.stopping = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None

    def bind(self) -> None:
        """Remember the serving loop (call from the lifespan, on it)."""
        self._loop = asyncio.get_running_loop()

    def begin(self) -> None:
        """The service is stopping: set ``stopping`` after ``drain_s``. Safe from any thread
        or a signal handler."""
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        logger.info("stopping: open streams have %.1f s to finish", self.drain_s)
        loop.call_soon_threadsafe(loop.call_later, self.drain_s, self.stopping.set)


class GracefulServer(uvicorn.Server):
    """uvicorn's server, telling ``shutdown`` of SIGTERM/SIGINT and exiting 0 after it."""

    def __init__(self, config: uvicorn.Config, shutdown: Shutdown) -> None:
        super().__init__(config)
        self.draining = shutdown

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if self.should_exit and sig == signal.SIGINT:
            self.force_exit = True  # a second Ctrl-C: stop waiting
            return
        self.draining.begin()
        self.should_exit = True  # not recorded for re-raising: a graceful stop exits 0
