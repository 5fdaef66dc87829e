"""Spend caps on the request path: lower a request near a cap, refuse it at the cap.

    spending = Spending(open_spend_store(settings), compute_metrics)
    decision = await spending.admit(snapshot, exchange, caller, forecaster, messages, pinned)
    spending.settle(exchange, cost_usd)           # once the request has ended, whatever its end

``admit`` reads the caller's windows (``router.log.spend``), applies the step the policy's caps
call for (``router.decision.spend_caps.downgrade``: lower effort, then a cheaper tier; never for
a pinned request), forecasts the result, and reserves its p90 predicted cost (0 for a model
without a price) in one atomic step that refuses a caller already at a cap
(``SpendCapReachedError``, 429, naming the cap, the caller and when the window resets).
``settle`` moves the reservation to spent at the request's actual cost, in a worker thread.

The caller is the API key's id when the service knows one (``caller_of``), else the
``x-router-tenant`` header (letters, digits, ``.``, ``_``, ``-``; up to 64), else ``anonymous``.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Final

import anyio
from starlette.requests import Request

from records import Decision
from router.decision.decider import retarget
from router.decision.forecast import Forecaster
from router.decision.spend_caps import Downgrade, downgrade, lowered
from router.errors import RequestError, RouterError, SpendCapReachedError
from router.log.spend import Refusal, Reservation, SpendStore
from router.service.compute_metrics import ComputeMetrics
from router.service.forecasting import with_forecast
from router.service.middleware import Exchange
from router.service.model_store import Snapshot

__all__ = ["ANONYMOUS", "TENANT_HEADER", "Spending", "caller_of"]

logger = logging.getLogger(__name__)

TENANT_HEADER: Final = "x-router-tenant"
ANONYMOUS: Final = "anonymous"
API_KEY_ID_SCOPE: Final = "router.api_key_id"
_TENANT: Final = re.compile(r"[A-Za-z0-9._-]{1,64}")


def caller_of(request: Request, exchange: Exchange) -> str:
    """Whom spend is counted against: the API key id, else the tenant header, else anonymous.

    The key id is the exchange's ``caller_id`` (set by API-key authentication where the service
    has it), else the ``router.api_key_id`` scope entry."""
    key_id = getattr(exchange, "caller_id", None) or request.scope.get(API_KEY_ID_SCOPE)
    if isinstance(key_id, str) and key_id:
        return f"key:{key_id}"
    tenant = request.headers.get(TENANT_HEADER)
    if tenant is None:
        return ANONYMOUS
    if not _TENANT.fullmatch(tenant):
        raise RequestError(
            f"header {TENANT_HEADER}: {tenant[:80]!r} is not a tenant name (1-64 letters,"
            " digits, '.', '_', '-')",
            param=TENANT_HEADER,
        )
    return f"tenant:{tenant}"


class Spending:
    def __init__(self, store: SpendStore, metrics: ComputeMetrics) -> None:
        self.store = store
        self.metrics = metrics
        self._settling: set[asyncio.Future[None]] = set()

    async def admit(
        self,
        snapshot: Snapshot,
        exchange: Exchange,
        caller: str,
        forecaster: Forecaster,
        messages: Sequence[Mapping[str, Any]],
        *,
        pinned: bool,
    ) -> None:
        """Lower, reserve or refuse the decision on ``exchange`` (which it updates)."""
        caps = snapshot.policy.spend_caps
        decision, prompt = exchange.decision, exchange.prompt
        if not caps or decision is None or prompt is None:
            return
        now = datetime.now(UTC)
        totals = await anyio.to_thread.run_sync(self.store.totals, caller, caps, now)
        shares = {cap.name: sum(totals[cap.name]) / cap.usd for cap in caps}
        step = Downgrade(None, None, 0.0) if pinned else downgrade(caps, shares)
        if step.step is not None and step.cap is not None:
            decision = self._lowered(snapshot, decision, step)
            decision = _reforecast(decision, snapshot, forecaster, messages)
            self.metrics.downgrades.labels(step.cap.name, step.step).inc()
            exchange.downgrade = f"{step.step} ({step.cap.name} cap at {step.share:.0%})"
        amount = 0.0 if decision.forecast is None else decision.forecast.cost_usd_p90 or 0.0
        outcome = await anyio.to_thread.run_sync(self.store.reserve, caller, caps, amount, now)
        if isinstance(outcome, Refusal):
            self.metrics.refused.labels(outcome.cap.name).inc()
            exchange.decided(decision, prompt)
            raise SpendCapReachedError(_refused(outcome, caller), param=TENANT_HEADER)
        exchange.reservation = outcome
        exchange.spend = ", ".join(
            f"{cap.name} ${sum(totals[cap.name]):.4f} of ${cap.usd:g}" for cap in caps
        )
        exchange.decided(decision, prompt)

    @staticmethod
    def _lowered(snapshot: Snapshot, decision: Decision, step: Downgrade) -> Decision:
        policy = snapshot.policy
        tier = policy.tier(decision.tier)
        index = policy.index(tier)
        near = f"spend near the {step.cap.name if step.cap else ''} cap ({step.share:.0%})"
        if step.step == "tier" and index > 0:
            cheaper = policy.tiers[index - 1]
            return retarget(decision, policy, cheaper, f"{near}: tier '{cheaper.name}'")
        budget = lowered(decision.budget)
        reason = f"{near}: effort lowered to {budget.label()}"
        return decision.model_copy(
            update={"budget": budget, "reasons": (*decision.reasons, reason)}
        )

    def settle(self, exchange: Exchange, cost_usd: float) -> None:
        """Move the request's reservation to spent, off the event loop."""
        reservation, exchange.reservation = exchange.reservation, None
        if reservation is None:
            return
        future = asyncio.get_running_loop().run_in_executor(
            None, self._settle, reservation, cost_usd
        )
        self._settling.add(future)
        future.add_done_callback(self._settling.discard)

    def _settle(self, reservation: Reservation, cost_usd: float) -> None:
        try:
            self.store.settle(reservation, cost_usd)
        except RouterError as exc:
            logger.error("spend of %s not settled: %s", reservation.caller, exc.message)

    async def close(self) -> None:
        if self._settling:
            await asyncio.gather(*self._settling, return_exceptions=True)
        await anyio.to_thread.run_sync(self.store.close)


def _reforecast(
    decision: Decision,
    snapshot: Snapshot,
    forecaster: Forecaster,
    messages: Sequence[Mapping[str, Any]],
) -> Decision:
    reasons = tuple(r for r in decision.reasons if not r.startswith("predicted cost"))
    decision = decision.model_copy(update={"reasons": reasons})
    return with_forecast(decision, snapshot.policy, snapshot.prices, forecaster, messages)


def _refused(refusal: Refusal, caller: str) -> str:
    return (
        f"spend cap '{refusal.cap.name}' (${refusal.cap.usd:g} a {refusal.cap.window}) is"
        f" reached for {caller}: ${refusal.used:.4f} spent or reserved; it resets at"
        f" {refusal.resets_at:%Y-%m-%dT%H:%M:%SZ}"
    )
