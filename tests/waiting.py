"""Waiting, in a test, for what the code under test does off the calling thread (a record on its
way to the store, a spool being replayed, a reload heard on the bus).

    events = wait_until(lambda: stored.get(request_id), what=f"{request_id} in the store")
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

# Each wait returns as soon as its condition holds; the margin is for a loaded machine (CI's
# 2 cores once took 14.6 s over one decision under load).
TIMEOUT_S = 10.0
POLL_S = 0.01


def wait_until(
    condition: Callable[[], T], timeout_s: float = TIMEOUT_S, what: str = "the condition"
) -> T:
    """``condition()``'s first truthy value, asked every ``POLL_S``; fails the test if none comes
    within ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while not (value := condition()):
        assert time.monotonic() < deadline, f"timed out after {timeout_s} s waiting for {what}"
        time.sleep(POLL_S)
    return value
