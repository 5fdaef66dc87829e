"""Typed dependencies: what an endpoint needs, named so its signature reads as prose.

The lifespan yields the app's long-lived objects as lifespan state; Starlette shallow-copies
that state into every request, so each one is a holder shared by all requests (the
``ModelStore`` swaps its snapshot inside, never the key).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Request

from router.access.guard import Guard
from router.decision.exploration import Explorer
from router.log.decision_log import DecisionLog
from router.ops.operations import Operations
from router.service.completions import Ledger
from router.service.metrics import ServiceMetrics
from router.service.middleware import Exchange, exchange_of
from router.service.model_store import ModelStore, Snapshot
from router.service.shutdown import Shutdown

__all__ = [
    "ActiveSnapshot",
    "DecisionLogDep",
    "ExchangeDep",
    "ExplorerDep",
    "GuardDep",
    "LedgerDep",
    "MetricsDep",
    "OperationsDep",
    "ShutdownDep",
    "StoreDep",
    "lifespan_state",
]


def lifespan_state(
    store: ModelStore,
    ledger: Ledger,
    metrics: ServiceMetrics,
    decision_log: DecisionLog,
    explorer: Explorer,
    guard: Guard,
    ops: Operations,
) -> dict[str, Any]:
    """The lifespan state the dependencies below read."""
    return {
        "guard": guard,
        "store": store,
        "ledger": ledger,
        "metrics": metrics,
        "decision_log": decision_log,
        "explorer": explorer,
        "ops": ops,
    }


async def _store(request: Request) -> ModelStore:
    store: ModelStore = request.state.store
    return store


async def _active(store: Annotated[ModelStore, Depends(_store)]) -> Snapshot:
    return store.active


async def _ledger(request: Request) -> Ledger:
    ledger: Ledger = request.state.ledger
    return ledger


async def _metrics(request: Request) -> ServiceMetrics:
    metrics: ServiceMetrics = request.state.metrics
    return metrics


async def _exchange(request: Request) -> Exchange:
    return exchange_of(request)


async def _decision_log(request: Request) -> DecisionLog:
    decision_log: DecisionLog = request.state.decision_log
    return decision_log


async def _explorer(request: Request) -> Explorer:
    explorer: Explorer = request.state.explorer
    return explorer


async def _shutdown(request: Request) -> Shutdown:
    shutdown: Shutdown = request.app.state.shutdown
    return shutdown


async def _guard(request: Request) -> Guard:
    guard: Guard = request.state.guard
    return guard


async def _operations(request: Request) -> Operations:
    ops: Operations = request.state.ops
    return ops


StoreDep = Annotated[ModelStore, Depends(_store)]
ActiveSnapshot = Annotated[Snapshot, Depends(_active)]
"""The serving snapshot for the whole request; 503 while the store is not ready."""
LedgerDep = Annotated[Ledger, Depends(_ledger)]
MetricsDep = Annotated[ServiceMetrics, Depends(_metrics)]
ExchangeDep = Annotated[Exchange, Depends(_exchange)]
DecisionLogDep = Annotated[DecisionLog, Depends(_decision_log)]
ExplorerDep = Annotated[Explorer, Depends(_explorer)]
GuardDep = Annotated[Guard, Depends(_guard)]
ShutdownDep = Annotated[Shutdown, Depends(_shutdown)]
OperationsDep = Annotated[Operations, Depends(_operations)]
