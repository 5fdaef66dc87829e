"""A running replica follows the fleet's policy: the file (embedded) or Redis (``<prefix>:policy``).

    follower = PolicyFollower(store, home)
    await follower.check()                 # serve the home's policy if it is not served already
    PolicyFileWatcher(follower, path, interval_s=0.25).run()      # embedded mode
    listen_for_policies(settings, follower.nudge)                   # Redis: on each announcement

A policy that does not load (an invalid file written by hand, a variable unset on this
replica) is refused: the serving policy stays and the problem is logged at each look (the file
watcher looks again only when the file changes). Requests in flight keep the snapshot they
started with, so none fails during a switch.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import anyio

from router.errors import RouterError
from router.ops.policy_home import PolicyHome, policy_channel
from router.service.model_store import ModelStore
from router.service.reload_bus import listen
from router.settings import Settings

__all__ = ["PolicyFileWatcher", "PolicyFollower", "listen_for_policies"]

logger = logging.getLogger(__name__)


class PolicyFollower:
    """Switches ``store`` to the home's policy when it differs from the serving one."""

    def __init__(
        self,
        store: ModelStore,
        home: PolicyHome,
        on_switch: Callable[[str, bool], None] | None = None,
    ) -> None:
        self.store = store
        self.home = home
        self.on_switch = on_switch
        self._wake = anyio.Event()

    def nudge(self) -> None:
        self._wake.set()

    async def run(self, interval_s: float) -> None:
        """Check on every nudge, and every ``interval_s`` in case a message was lost."""
        while True:
            with anyio.move_on_after(interval_s):
                await self._wake.wait()
            self._wake = anyio.Event()
            await self.check()

    async def check(self) -> bool:
        """True when a new policy now serves."""
        if not self.store.ready:
            return False
        try:
            document = await anyio.to_thread.run_sync(self.home.read)
        except RouterError as exc:
            logger.error("policy refused, the serving one stays: %s", exc.message)
            self._report("refused", ok=False)
            return False
        serving = self.store.active.document
        if serving is not None and serving.etag == document.etag:
            return False
        await anyio.to_thread.run_sync(self.store.use_policy, document)
        logger.info("policy %s now serving (ETag %s)", document.version, document.etag)
        self._report(document.version, ok=True)
        return True

    def _report(self, version: str, *, ok: bool) -> None:
        if self.on_switch is not None:
            self.on_switch(version, ok)


class PolicyFileWatcher:
    """Nudges the follower when the policy file's stat changes (embedded mode)."""

    def __init__(self, follower: PolicyFollower, path: Path, interval_s: float) -> None:
        self.follower = follower
        self.path = path
        self.interval_s = interval_s

    async def run(self) -> None:
        seen = self._stat()
        while True:
            await anyio.sleep(self.interval_s)
            stat = self._stat()
            if stat != seen:
                seen = stat
                await self.follower.check()

    def _stat(self) -> tuple[int, int, int] | None:
        try:
            stat = self.path.stat()
        except OSError:
            return None
        return (stat.st_ino, stat.st_mtime_ns, stat.st_size)


async def listen_for_policies(
    settings: Settings, nudge: Callable[[], None], *, retry_s: float = 1.0
) -> None:
    """Call ``nudge()`` on every message of the policy channel, until cancelled."""
    channel = policy_channel(settings.redis_prefix)
    await listen(settings, channel, nudge, retry_s=retry_s)
