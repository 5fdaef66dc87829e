"""The only caller of litellm: one ``litellm.Router`` for every target the policy can choose.

``Upstream(targets)`` builds the Router once. Each target becomes a model group whose deployment
carries the target's model, endpoint, key, per-attempt timeout (``attempt_timeout_s``: a share
of ``timeout_s``) and thinking budget (spelled for the provider by ``router.decision.budgets``);
each of its fallbacks becomes a group of its own with the same budget spelled for the fallback's
provider, so a fallback to another provider still gets a budget it understands. The Router does
the retrying (429 and 503, with litellm's backoff and the provider's retry-after; timeouts go
straight to the fallbacks), the falling back and the cooldowns.

    upstream = Upstream(targets)                      # at start-up, and again on policy reload
    result = await upstream.complete(target, messages, {"temperature": 0.2})
    async with await upstream.stream(target, messages, {"stream_options": {...}}) as stream:
        async for chunk in stream: ...
    await close_clients()                             # at shutdown, on the serving event loop

The decision owns the budget: a client's own max_tokens, max_completion_tokens, reasoning_effort,
thinking and extra_body are dropped (``DECIDED_PARAMS``); its other parameters pass through.

A target with ``strategy.samples = N`` sends N calls at once (``strategies``). Prices come from
``cost``, keys from ``targets``, errors leave as ``router.errors`` classes (``translation``). An
HTTP 200 without an answer (``answers``) is a failure: the fallbacks not tried yet are asked, and
if none answers it is an ``EmptyAnswerError`` (502).

Logs: importing this module silences litellm's loggers (their INFO lines come two per call, and a
failed call logs multi-line ERROR blocks, once per retry and fallback) unless ``LITELLM_LOG`` is
set: every failure leaves this module as one ``router.errors`` exception, which the service logs
as one line.

Connecting: each deployment has a connect timeout (``connect_timeout_s``, a few seconds) apart
from its tier's ``timeout_s``, so an upstream that is down fails fast, with
``UpstreamUnreachableError`` naming the address and the cause (``translation``). A 500 answer or
a failure to connect is not retried within a model group (retrying a refused connection only
waits out litellm's backoff to be refused again); it goes to the fallbacks. An idle connection
is reused briefly, and a call dropped unanswered is sent again (``pool``; ``on_resend`` counts).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from functools import partial
from typing import TYPE_CHECKING, Any, Final

from records import Budget
from router.decision.budgets import ReasoningControl, budget_params, control_of, steers
from router.errors import EmptyAnswerError, MissingProviderKeyError, UpstreamError
from router.upstream import strategies
from router.upstream.answers import has_answer
from router.upstream.cost import answering_model, response_cost
from router.upstream.pool import resent_if_dropped, reuse_idle_connections_briefly
from router.upstream.quiet import import_litellm, quiet_litellm_logs
from router.upstream.results import (
    Message,
    Sample,
    UpstreamResult,
    Usage,
    charged,
    result_of,
    total_spent,
)
from router.upstream.streaming import UpstreamStream, open_answer, replayed, resumed
from router.upstream.targets import (
    PLACEHOLDER_KEY,
    Credentials,
    Endpoint,
    UpstreamTarget,
    attempt_timeout_s,
    credentials,
    endpoints,
    price_params,
    retry_policy,
    target_key,
)
from router.upstream.translation import Route, translated
from router.upstream.verifiers import Verifier

if TYPE_CHECKING:
    import httpx

__all__ = ["DECIDED_PARAMS", "Upstream", "close_clients"]

logger = logging.getLogger(__name__)

# Parameters the decision owns: a client's value for them is dropped, the budget's is sent.
DECIDED_PARAMS: Final = frozenset(
    {
        "model",
        "messages",
        "stream",
        "max_tokens",
        "max_completion_tokens",
        "reasoning_effort",
        "thinking",
        "extra_body",
    }
)
DEFAULT_CONNECT_TIMEOUT_S: Final = 3.0


quiet_litellm_logs()


class Upstream:
    """The Router for a set of targets, and the calls made through it."""

    def __init__(
        self,
        targets: Iterable[UpstreamTarget],
        *,
        num_retries: int = 2,
        cooldown_s: float | None = None,
        allowed_fails: int | None = None,
        connect_timeout_s: float = DEFAULT_CONNECT_TIMEOUT_S,
        on_resend: Callable[[str], None] | None = None,
    ) -> None:
        targets = list(targets)
        self._connect_timeout_s, self._on_resend = connect_timeout_s, on_resend
        self._endpoints = endpoints(targets)
        self._secrets: set[str] = set()
        self._routes: dict[tuple[object, ...], Route] = {}
        self._model_list: list[dict[str, Any]] = []
        self._fallbacks: list[dict[str, list[str]]] = []
        self._unsteered: set[str] = set()
        for target in targets:
            self._add_target(target)
        import_litellm()
        reuse_idle_connections_briefly()
        from litellm.router import Router

        self._router = Router(
            model_list=self._model_list,
            fallbacks=self._fallbacks,
            num_retries=num_retries,
            retry_policy=retry_policy(num_retries),
            cooldown_time=cooldown_s,
            allowed_fails=allowed_fails,
        )

    async def complete(
        self,
        target: UpstreamTarget,
        messages: Sequence[Message],
        extra_params: Mapping[str, Any] | None = None,
        verifier: Verifier | None = None,
    ) -> UpstreamResult:
        """One answer for ``messages`` from ``target`` (after retries, fallbacks and voting);
        with a ``verifier``, checked by it (and chosen by it, for ``select: verifier``)."""
        route = self._route(target)
        params = _client_params(extra_params)
        params.pop("stream_options", None)
        started = time.perf_counter()
        samples = target.strategy.samples

        def call() -> Awaitable[Sample]:
            return self._sample(route, messages, params)

        if verifier is not None:
            return await strategies.verified(
                call, target.strategy, verifier, messages, route.described, started
            )
        if samples == 1:
            sample = await self._sample(route, messages, params)
            return result_of(sample, sample.usage, sample.cost_usd, started)

        if target.strategy.select == "first":
            return await strategies.first(call, samples, started)
        return await strategies.majority(call, samples, route.described, started)

    async def stream(
        self,
        target: UpstreamTarget,
        messages: Sequence[Message],
        extra_params: Mapping[str, Any] | None = None,
    ) -> UpstreamStream:
        """Open a stream of chunks for ``messages``; errors up to the first chunk raise here.

        The first chunk is read before this returns, so a failure surfaces before the caller
        has started its own response (and litellm's stream can be closed cleanly at any point).

        A target that samples more than once cannot stream its vote: the chosen answer is sent
        as one content chunk once the vote is in.
        """
        route = self._route(target)
        params = _client_params(extra_params)
        include_usage = bool((params.pop("stream_options", None) or {}).get("include_usage"))

        async def _open(group: str, **options: Any) -> Any:
            usage = {"include_usage": True}
            return await self._send(
                route, group, messages, stream=True, stream_options=usage, **params, **options
            )

        started = time.perf_counter()
        if target.strategy.samples > 1:
            result = await self.complete(target, messages, extra_params)
            return UpstreamStream(
                replayed(result),
                model=result.model,
                include_usage=include_usage,
                started=started,
                vote=result.vote,
            )
        opened = await open_answer(_open, route, route.group, self._secrets)
        tried, empty = {opened[0]}, [opened[0]]
        for group, model in route.fallbacks:
            if opened[1] is not None or model in tried:
                continue
            tried.add(model)
            logger.warning("%s sent an empty stream; trying %s", opened[0], model)
            opened = await open_answer(_open, route, group, self._secrets, fallbacks=[])
            empty.append(opened[0])
        answering, stream = opened
        if stream is None:
            raise EmptyAnswerError(
                f"{route.described} sent a stream without any answer ({', '.join(empty)})",
                model=route.model,
            )
        source, read_ahead, chunks = stream
        return UpstreamStream(
            resumed(read_ahead, chunks),
            model=answering,
            include_usage=include_usage,
            started=started,
            on_close=source.aclose,
        )

    async def _sample(
        self, route: Route, messages: Sequence[Message], params: Mapping[str, Any]
    ) -> Sample:
        """The route's answer, or if it is empty the first one of a fallback not tried yet."""
        sample = await self._call(route, route.group, messages, params)
        tried, empty = {sample.model}, [sample]
        for group, model in route.fallbacks:
            if has_answer(sample.response):
                return sample
            if model in tried:
                continue
            tried.add(model)
            logger.warning("%s answered HTTP 200 without a choice; trying %s", sample.model, model)
            sample = await self._call(route, group, messages, params, fallbacks=[])
            empty.append(sample)
        if has_answer(sample.response):
            return sample
        error = EmptyAnswerError(
            f"{route.described} answered HTTP 200 without any choice"
            f" ({', '.join(s.model for s in empty)}): no answer to return",
            model=route.model,
        )
        raise charged(error, *total_spent(empty))

    async def _call(
        self,
        route: Route,
        group: str,
        messages: Sequence[Message],
        params: Mapping[str, Any],
        **options: Any,
    ) -> Sample:
        with translated(route, self._secrets):
            response = await self._send(route, group, messages, **params, **options)
        data = response.model_dump(exclude_none=True)
        return Sample(
            data,
            answering_model(response, route.model),
            Usage.from_openai(data.get("usage")),
            response_cost(response),
        )

    def _send(
        self, route: Route, group: str, messages: Sequence[Message], **params: Any
    ) -> Awaitable[Any]:
        """The Router's call for ``group``, sent once more if the connection was dropped."""
        counted = None if self._on_resend is None else partial(self._on_resend, route.model)
        return resent_if_dropped(
            lambda: self._router.acompletion(model=group, messages=_messages(messages), **params),
            route.described,
            counted,
        )

    def _route(self, target: UpstreamTarget) -> Route:
        route = self._routes.get(target_key(target))
        if route is None:
            raise UpstreamError(
                f"model '{target.model}' (budget {target.budget.label()}) has no route: "
                "the Upstream was built without this target",
                model=target.model,
            )
        if route.missing_key is not None:
            raise MissingProviderKeyError(
                f"model '{target.model}' needs an API key: set {route.missing_key}",
                model=target.model,
            )
        return route

    def _add_target(self, target: UpstreamTarget) -> None:
        key = target_key(target)
        if key in self._routes:
            return
        endpoint = Endpoint.of(target)
        group, credentials = self._deploy(target.model, endpoint, target)
        fallback_groups = [
            fallback_group
            for fallback in target.fallbacks
            if (fallback_group := self._deploy_fallback(fallback, target)) is not None
        ]
        if fallback_groups:
            self._fallbacks.append({group: fallback_groups})
        described = f"model '{target.model}'"
        if fallback_groups:
            described += " (and its fallbacks)"
        self._routes[key] = Route(
            group,
            target.model,
            described,
            credentials.missing,
            key_env=endpoint.api_key_env,
            fallbacks=tuple((g, g.rsplit("#", 1)[0]) for g in fallback_groups),
        )

    def _deploy_fallback(self, model: str, target: UpstreamTarget) -> str | None:
        endpoint = self._endpoints.get(model, Endpoint())
        group, credentials = self._deploy(model, endpoint, target)
        if credentials.missing is None:
            return group
        logger.warning(
            "fallback '%s' of model '%s' is skipped: it needs an API key, set %s",
            model,
            target.model,
            credentials.missing,
        )
        return None

    def _deploy(
        self, model: str, endpoint: Endpoint, target: UpstreamTarget
    ) -> tuple[str, Credentials]:
        """Add a model group for ``model`` under the target's budget and timeout."""
        found = credentials(model, endpoint)
        if found.api_key is not None and found.api_key != PLACEHOLDER_KEY:
            self._secrets.add(found.api_key)
        group = f"{model}#{len(self._model_list)}"
        params: dict[str, Any] = {
            "model": model,
            "timeout": self._timeout(target),
            **budget_params(model, target.budget, endpoint.reasoning),
        }
        if endpoint.api_base is not None:
            params["api_base"] = endpoint.api_base
        if found.api_key is not None:
            params["api_key"] = found.api_key
        if endpoint.price is not None:
            params.update(price_params(endpoint.price))
        self._model_list.append({"model_name": group, "litellm_params": params})
        self._note_unsteered(model, target.budget, endpoint.reasoning)
        return group, found

    def _timeout(self, target: UpstreamTarget) -> httpx.Timeout:
        """Each attempt's share of the tier's timeout (``attempt_timeout_s``) for each read, and
        at most ``connect_timeout_s`` to connect (a float ``stream_timeout`` would take over for
        streams: none is set)."""
        import httpx  # 40 ms at import: the CLI's route and score never call upstream

        attempt = attempt_timeout_s(target)
        return httpx.Timeout(attempt, connect=min(self._connect_timeout_s, attempt))

    def _note_unsteered(
        self, model: str, budget: Budget, reasoning: ReasoningControl | None
    ) -> None:
        """Say once per model that it was given a budget it has no control for."""
        if model in self._unsteered:
            return
        if not steers(control_of(model, reasoning), budget):
            self._unsteered.add(model)
            logger.info(
                "model '%s' has no reasoning control: only max_tokens is sent (a policy tier's"
                " `reasoning` can name one)",
                model,
            )


async def close_clients() -> None:
    """Close litellm's pooled HTTP clients for the running event loop.

    litellm shares them across the process (one pool per event loop, whatever the Upstream), so
    call this once, at shutdown, on the loop that served the calls: closing them while another
    Upstream still calls on the same loop makes its calls fail.
    """
    from litellm.llms.custom_httpx.async_client_cleanup import close_litellm_async_clients

    await close_litellm_async_clients()  # type: ignore[no-untyped-call]  # untyped in litellm


def _client_params(extra_params: Mapping[str, Any] | None) -> dict[str, Any]:
    """The client's parameters, without those the decision owns."""
    return {key: value for key, value in (extra_params or {}).items() if key not in DECIDED_PARAMS}


def _messages(messages: Sequence[Message]) -> Any:
    return [dict(message) for message in messages]
