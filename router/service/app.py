"""The HTTP service: ``create_app(settings)`` wires the pieces; endpoints live in ``api/``.

    app = create_app(settings)                          # uvicorn, via `router serve`
    app = create_app(settings, encoder_loader=lambda _: HashingEncoder(), sink=ListSink())
    app = create_app(settings, rng=random.Random(7))   # exploration draws from a seeded generator

Start-up (the lifespan) loads the policy and the classifier and builds the decider and the
upstream, once, into a ``ModelStore``; if that fails the service still starts, not ready
(``/readyz`` 503 with the reason, other endpoints 503), so that an orchestrator sees why. It also
opens the decision log (``router.log.decision_log``: SQLite under data_dir, or Redis) and starts its
recorder, which first replays any records a past run left in the spool. Shutdown writes the
queued records (to the store, or to the spool if the store is away), then closes litellm's
clients. A ``sink`` passed in replaces the spooling sink; feedback still goes to the store.

Errors: one handler, ``error_response``, turns every ``RouterError`` into an OpenAI-shaped body
with the class's status code. Request validation errors (malformed JSON included) and
Starlette's HTTP errors (unknown path, wrong method, body over ``max_body_bytes``) are first
translated into ``RouterError``s, naming the offending field in ``param``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import timedelta
from typing import Any, Final

import anyio
from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from pydantic_core import ErrorDetails
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from router.decision.exploration import Explorer
from router.errors import (
    ForbiddenFieldError,
    PayloadTooLargeError,
    RequestError,
    RouterError,
    error_body,
)
from router.log.decision_log import DecisionLog, DecisionSink, open_decision_log
from router.log.spend import open_spend_store
from router.ops.admin import PolicyAdmin
from router.ops.audit import open_audit
from router.ops.operations import Operations
from router.ops.policy_home import PolicyHome, open_policy_home
from router.ops.recent import RecentTraffic
from router.ops.shadow import ShadowSlot
from router.service import api
from router.service.access import open_guard
from router.service.api.deps import lifespan_state
from router.service.completions import Ledger
from router.service.forecasting import seed
from router.service.metrics import ServiceMetrics
from router.service.middleware import BodyLimitMiddleware, ExchangeMiddleware
from router.service.model_store import EncoderLoader, ModelStore, load_encoder
from router.service.openai_schema import FORBIDDEN_FIELD
from router.service.openapi import document
from router.service.policy_sync import PolicyFileWatcher, PolicyFollower, listen_for_policies
from router.service.redaction import configured_secrets, install_masking, without_password
from router.service.reload_bus import listen_for_reloads
from router.service.reloader import CurrentWatcher
from router.service.shutdown import Shutdown
from router.service.spending import Spending
from router.settings import Settings
from router.upstream.client import close_clients

__all__ = ["create_app", "error_response", "router_error"]

logger = logging.getLogger(__name__)

_WHOLE_BODY: Final = ("body",)
_NOT_AN_OBJECT: Final = frozenset({"model_attributes_type", "dict_type", "model_type"})
RECENT_WINDOW: Final = timedelta(days=7)
POLICY_POLL_WITH_REDIS_S: Final = 5.0
SHADOW_PROJECTION_S: Final = 30.0

Lifespan = Callable[[FastAPI], AbstractAsyncContextManager[dict[str, Any]]]


def create_app(
    settings: Settings,
    *,
    encoder_loader: EncoderLoader = load_encoder,
    sink: DecisionSink | None = None,
    rng: random.Random | None = None,
) -> FastAPI:
    """The service for ``settings``; tests pass a stand-in encoder loader, their own sink and a
    seeded generator for exploration."""
    metrics = ServiceMetrics()
    admin = settings.admin_token.get_secret_value() if settings.admin_token else None
    install_masking().add(admin, *configured_secrets([], [settings.redis_url]))
    shadow = ShadowSlot(metrics.registry)
    explorer = Explorer(settings.exploration_rate, rng)
    shutdown = Shutdown(settings.shutdown_drain_s)
    app = FastAPI(
        title="difficulty-router",
        summary="Routes each LLM request to the cheapest model and thinking budget that will"
        " answer it well.",
        lifespan=_lifespan(settings, encoder_loader, sink, metrics, explorer, shadow, shutdown),
        strict_content_type=False,  # a JSON body without a Content-Type is still read
    )
    app.state.settings = settings
    app.state.shutdown = shutdown
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(ExchangeMiddleware, metrics=metrics)  # the outermost: sees every response
    for error in (RouterError, RequestValidationError, HTTPException):
        app.add_exception_handler(error, error_response)
    app.include_router(api.router)
    document(app)
    return app


def _lifespan(
    settings: Settings,
    encoder_loader: EncoderLoader,
    sink: DecisionSink | None,
    metrics: ServiceMetrics,
    explorer: Explorer,
    shadow: ShadowSlot,
    shutdown: Shutdown,
) -> Lifespan:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[dict[str, Any]]:
        shutdown.bind()
        store = ModelStore(settings, encoder_loader, on_resend=metrics.count_resend)
        await _first_load(store)
        log = await anyio.to_thread.run_sync(_open_log, settings, metrics, sink)
        guard = await open_guard(settings)
        ledger = Ledger(log.recorder, metrics, keep_prompt=settings.store_prompt_text, guard=guard)
        await anyio.to_thread.run_sync(seed, log.store, ledger.forecaster)
        spend_store = await anyio.to_thread.run_sync(open_spend_store, settings)
        ledger.spending = Spending(spend_store, ledger.compute_metrics)
        watching = _watch_current(settings, store, metrics)
        home = open_policy_home(settings)
        audit = await anyio.to_thread.run_sync(open_audit, settings)
        ops = Operations(
            PolicyAdmin(home, store, audit),
            shadow,
            RecentTraffic(log.store, RECENT_WINDOW),
            serving=lambda: store.active.policy,
        )
        watching += await _follow_policy(settings, store, home)
        watching.append(asyncio.get_running_loop().create_task(_project_shadow(ops)))
        try:
            yield lifespan_state(store, ledger, metrics, log, explorer, guard, ops)
        finally:
            await guard.aclose()
            for task in watching:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await ledger.spending.close()
            await anyio.to_thread.run_sync(log.close)
            await anyio.to_thread.run_sync(audit.close)
            home.close()
            await close_clients()

    return lifespan


def _watch_current(
    settings: Settings, store: ModelStore, metrics: ServiceMetrics
) -> list[asyncio.Task[None]]:
    """Follow models_dir/CURRENT in the background, unless a version is pinned or it is off;
    with Redis, a reload announcement makes the watcher look at once."""
    if settings.model_version is not None or settings.reload_interval_s == 0:
        return []
    watcher = CurrentWatcher(
        store,
        settings.models_dir,
        interval_s=settings.reload_interval_s,
        on_reload=metrics.count_reload,
    )
    loop = asyncio.get_running_loop()
    tasks = [loop.create_task(watcher.run(), name="current-watcher")]
    if settings.redis_url is not None:
        listening = listen_for_reloads(settings, watcher.nudge)
        tasks.append(loop.create_task(listening, name="reload-listener"))
    return tasks


async def _project_shadow(ops: Operations) -> None:
    """Keep the shadow policy's projected cost and quality on /metrics fresh while attached."""
    while True:
        await asyncio.sleep(SHADOW_PROJECTION_S)
        if ops.shadow.shadow is None:
            continue
        try:
            await anyio.to_thread.run_sync(ops.shadow_report)
        except RouterError as exc:
            logger.warning("shadow projection skipped: %s", exc.message)


async def _follow_policy(
    settings: Settings, store: ModelStore, home: PolicyHome
) -> list[asyncio.Task[None]]:
    """Serve the fleet's policy now, then follow it: the file (embedded) or Redis."""
    follower = PolicyFollower(store, home)
    await follower.check()
    loop = asyncio.get_running_loop()
    if settings.redis_url is None:
        watcher = PolicyFileWatcher(
            follower, settings.policy_path, settings.policy_watch_interval_s
        )
        return [loop.create_task(watcher.run(), name="policy-file-watcher")]
    return [
        loop.create_task(follower.run(POLICY_POLL_WITH_REDIS_S), name="policy-follower"),
        loop.create_task(listen_for_policies(settings, follower.nudge), name="policy-listener"),
    ]


def _open_log(
    settings: Settings, metrics: ServiceMetrics, sink: DecisionSink | None
) -> DecisionLog:
    log = open_decision_log(settings, metrics, sink)
    log.start()
    where = without_password(settings.redis_url) or settings.decision_db_path
    logger.info("logging decisions to %s (spool %s)", where, settings.decision_spool_path)
    return log


async def _first_load(store: ModelStore) -> None:
    try:
        snapshot = await anyio.to_thread.run_sync(store.reload)
    except RouterError as exc:
        logger.error("the router starts NOT READY: %s", exc.message)
        return
    logger.info(
        "serving classifier %s with policy %s",
        snapshot.classifier_version,
        snapshot.policy_version,
    )


# --- errors --------------------------------------------------------------------------------


async def error_response(request: Request, exc: Exception) -> Response:
    """The one error handler: an OpenAI-shaped body with the error's own status code."""
    error = router_error(exc)
    if error.status_code >= 500:
        logger.warning("%s %s: %s", request.method, request.url.path, error.message)
    headers = exc.headers if isinstance(exc, HTTPException) else getattr(error, "headers", None)
    return JSONResponse(error_body(error), status_code=error.status_code, headers=headers)


def router_error(exc: Exception) -> RouterError:
    """``exc`` as a ``RouterError``: itself, or the translation of a framework error."""
    if isinstance(exc, RouterError):
        return exc
    if isinstance(exc, RequestValidationError):
        return _validation_error(exc.errors())
    if isinstance(exc, HTTPException):
        return _http_error(exc)
    return RouterError(f"unexpected {type(exc).__name__}")


def _http_error(exc: HTTPException) -> RouterError:
    if exc.status_code == PayloadTooLargeError.status_code:
        return PayloadTooLargeError(str(exc.detail))
    error = RequestError(str(exc.detail))
    error.status_code = exc.status_code
    return error


def _validation_error(errors: Any) -> RequestError:
    """The first problem of a request validation, with its field as ``param``."""
    first: ErrorDetails = errors[0]
    kind, loc, ctx = first["type"], tuple(first["loc"]), first.get("ctx") or {}
    if kind == "json_invalid":
        return RequestError(f"the request body is not valid JSON: {ctx.get('error', 'syntax')}")
    if loc == _WHOLE_BODY and kind == "missing":
        return RequestError("the request needs a JSON object body")
    if loc == _WHOLE_BODY and kind in _NOT_AN_OBJECT:
        return RequestError(
            "the request body must be a JSON object, sent as Content-Type: application/json"
        )
    param = ctx.get("param") or _param(loc[1:] if loc[:1] == _WHOLE_BODY else loc)
    if kind == FORBIDDEN_FIELD:
        return ForbiddenFieldError(first["msg"], param=param)
    return RequestError(_described(kind, param, first["msg"]), param=param)


def _described(kind: str, param: str | None, message: str) -> str:
    if kind == "missing":
        return f"missing required parameter '{param}'"
    if kind == "extra_forbidden":
        return f"unrecognized request argument supplied: '{param}'"
    return f"invalid '{param}': {message}" if param else message


def _param(loc: tuple[Any, ...]) -> str | None:
    """``("messages", 0, "content")`` -> ``messages[0].content``."""
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else f".{part}"
    return text.lstrip(".") or None
