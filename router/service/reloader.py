"""Hot reload: a running service follows ``models_dir/CURRENT`` without a restart.

``CurrentWatcher`` reads ``CURRENT`` every ``interval_s`` (one small file read; it sees a CURRENT
replaced by rename, which is how ``write_current`` switches it, on any filesystem) and, when it
names another version than the one serving, rebuilds the store's snapshot off the event loop and
swaps it in. In-flight requests keep the snapshot they started with, so none fails during a
switch. ``nudge()`` makes it look at once: the Redis listener calls it when ``router models
promote`` announces a new version, so every replica switches within a round trip.

A version that fails to load, whatever the error, is refused: the serving snapshot stays, the
failure is logged and counted, and the same version is not tried again until ``CURRENT`` names
another one. Any other failure of a check is logged and counted too, and the watching goes on.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import anyio

from classifiers.artifacts.versions import read_current
from router.errors import RouterError
from router.service.model_store import ModelStore

__all__ = ["CurrentWatcher"]

logger = logging.getLogger(__name__)

UNKNOWN_VERSION = "?"


class CurrentWatcher:
    """Polls ``CURRENT`` and reloads ``store`` when it changes; see the module docstring."""

    def __init__(
        self,
        store: ModelStore,
        models_dir: Path,
        *,
        interval_s: float = 2.0,
        on_reload: Callable[[str, bool], None] | None = None,
    ) -> None:
        self.store = store
        self.models_dir = models_dir
        self.interval_s = interval_s
        self.on_reload = on_reload
        self._refused: str | None = None
        self._wake = anyio.Event()

    def nudge(self) -> None:
        """Check ``CURRENT`` now rather than at the next interval."""
        self._wake.set()

    async def run(self) -> None:
        """Watch until cancelled: no failure of a check, whatever its kind, stops the watching
        (each is logged with its traceback and counted as a refused reload)."""
        while True:
            try:
                await self.check()
            except Exception:
                logger.exception("the CURRENT watcher's check failed; it keeps watching")
                self._report(UNKNOWN_VERSION, ok=False)
            with anyio.move_on_after(self.interval_s):
                await self._wake.wait()
            self._wake = anyio.Event()

    async def check(self) -> bool:
        """Reload if ``CURRENT`` names a new version; True when a new version now serves."""
        wanted = self._wanted_version()
        if wanted is None or wanted == self._serving_version() or wanted == self._refused:
            return False
        try:
            await anyio.to_thread.run_sync(self.store.reload)
        except Exception as exc:  # any failure to load refuses the version, not the watcher
            self._refused = wanted
            logger.error(
                "classifier %s refused, %s keeps serving: %s",
                wanted,
                self._serving_version(),
                exc.message if isinstance(exc, RouterError) else f"{type(exc).__name__}: {exc}",
                exc_info=not isinstance(exc, RouterError),
            )
            self._report(wanted, ok=False)
            return False
        self._refused = None
        logger.info("classifier %s now serving", self._serving_version())
        self._report(wanted, ok=True)
        return True

    def _wanted_version(self) -> str | None:
        try:
            return read_current(self.models_dir)
        except RouterError as exc:
            logger.warning("CURRENT unreadable, keeping the serving classifier: %s", exc.message)
            return None

    def _serving_version(self) -> str | None:
        return self.store.active.classifier_version if self.store.ready else None

    def _report(self, version: str, *, ok: bool) -> None:
        if self.on_reload is not None:
            self.on_reload(version, ok)
