"""What the admin API works with, held in the app's lifespan state as one object.

ops = Operations(admin, shadow, recent, serving=lambda: store.active.policy)
ops.shadow_report()      # the shadow's live counters and its projection on recent traffic
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from router.decision.policy import Policy
from router.ops.admin import PolicyAdmin
from router.ops.recent import RecentTraffic
from router.ops.shadow import ShadowSlot
from router.ops.simulation import compare

__all__ = ["Operations"]

SHADOW_RESAMPLES = 100


@dataclass(frozen=True)
class Operations:
    admin: PolicyAdmin
    shadow: ShadowSlot
    recent: RecentTraffic
    serving: Callable[[], Policy]

    def shadow_report(self) -> dict[str, Any] | None:
        """The attached shadow's report, projected on the requests served since it was
        attached (None when nothing is attached)."""
        shadow = self.shadow.shadow
        if shadow is None:
            return None
        traffic = self.recent.traffic(shadow.attached_at)
        projection = None
        if traffic is not None:
            result = compare(
                shadow.document.policy, self.serving(), traffic, resamples=SHADOW_RESAMPLES
            )
            projection = result.to_dict()
        return self.shadow.report(projection)
