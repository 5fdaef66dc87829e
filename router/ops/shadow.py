"""A shadow policy: a candidate that decides beside the active one on live traffic, never acting.

    slot = ShadowSlot(registry)          # in the app's lifespan state
    slot.attach(document)                # POST /admin/shadow
    slot.observe(score, tier)            # every routed chat request (after the real decision)
    slot.report(projection)              # GET /admin/shadow; also sets the /metrics gauges
    slot.detach()                        # DELETE /admin/shadow

Live counters say how often the shadow agrees with the active policy and the tier mix it would
produce. Its projected cost and quality come from the requests served since it was attached,
as ``router policy simulate`` would estimate them (off-policy, from the decision log, with
the active policy as the logging one): the caller passes that projection in.

    router_shadow_requests_total               requests the shadow has seen
    router_shadow_agreement_ratio              share on which it picked the active tier
    router_shadow_tier_share{tier}             the tier mix it would produce
    router_shadow_projected{figure, policy}    cost_per_1k / quality, shadow and active
                                               (refreshed every 30 s by the service, and by
                                               each GET /admin/shadow)
"""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from prometheus_client import CollectorRegistry, Gauge

from router.ops.policy_file import PolicyDocument

__all__ = ["Shadow", "ShadowSlot"]


@dataclass
class Shadow:
    document: PolicyDocument
    attached_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    requests: int = 0
    agreements: int = 0
    tiers: Counter[str] = field(default_factory=Counter)

    def observe(self, score: float, active_tier: str) -> str:
        tier = self.document.policy.choose(score).name
        self.requests += 1
        self.agreements += tier == active_tier
        self.tiers[tier] += 1
        return tier

    @property
    def agreement(self) -> float | None:
        return self.agreements / self.requests if self.requests else None

    def tier_mix(self) -> dict[str, float]:
        total = max(self.requests, 1)
        return {tier.name: self.tiers[tier.name] / total for tier in self.document.policy.tiers}


class ShadowSlot:
    """The attached shadow (at most one) and its gauges."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self._shadow: Shadow | None = None
        self._lock = threading.Lock()
        self.requests = Gauge(
            "router_shadow_requests", "Requests the shadow policy has seen.", registry=registry
        )
        self.agreement = Gauge(
            "router_shadow_agreement_ratio",
            "Share of requests on which the shadow policy picked the active tier.",
            registry=registry,
        )
        self.tier_share = Gauge(
            "router_shadow_tier_share",
            "The tier mix the shadow policy would produce.",
            ["tier"],
            registry=registry,
        )
        self.projected = Gauge(
            "router_shadow_projected",
            "Projected cost per 1k requests (USD) and quality, shadow and active policy.",
            ["figure", "policy"],
            registry=registry,
        )

    @property
    def shadow(self) -> Shadow | None:
        return self._shadow

    def attach(self, document: PolicyDocument) -> Shadow:
        with self._lock:
            self._shadow = Shadow(document)
            self.tier_share.clear()
            self.projected.clear()
            self.requests.set(0)
            self.agreement.set(0)
            return self._shadow

    def detach(self) -> Shadow | None:
        with self._lock:
            shadow, self._shadow = self._shadow, None
            self.tier_share.clear()
            self.projected.clear()
            return shadow

    def observe(self, score: float, active_tier: str) -> None:
        with self._lock:
            shadow = self._shadow
            if shadow is None:
                return
            shadow.observe(score, active_tier)
            self.requests.set(shadow.requests)
            self.agreement.set(shadow.agreement or 0.0)
            for tier, share in shadow.tier_mix().items():
                self.tier_share.labels(tier).set(share)

    def report(self, projection: dict[str, Any] | None) -> dict[str, Any] | None:
        """The shadow's figures with ``projection`` (a simulation's ``to_dict``), or None."""
        shadow = self._shadow
        if shadow is None:
            return None
        if projection is not None:
            self._set_projection(projection)
        return {
            "version": shadow.document.version,
            "attached_at": shadow.attached_at.isoformat(),
            "requests": shadow.requests,
            "agreement": shadow.agreement,
            "tier_mix": shadow.tier_mix(),
            "projection": projection,
        }

    def _set_projection(self, projection: dict[str, Any]) -> None:
        for policy in ("candidate", "current"):
            figures = projection.get(policy)
            if not figures:
                continue
            label = "shadow" if policy == "candidate" else "active"
            for figure in ("cost_per_1k", "quality"):
                value = figures[figure]["value"]
                if value is not None:
                    self.projected.labels(figure, label).set(value)
