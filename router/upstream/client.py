"""The only caller of litellm: one ``litellm.Router`` for every target the policy can choose.

``Upstream(targets)`` builds the Router once. Each target becomes a model group whose deployment
carries the target's model, endpoint, key, per-attempt timeout (``attempt_timeout_s``: the tier's
``timeout_s`` shared equally by the model and its fallbacks) and thinking budget (spelled for
the provider by ``router.decision.budgets``); each of its fallbacks becomes a group of its own
with the same budget spelled for the fallback's provider, so a fallback to another provider still
gets a budget it understands. The Router does the retrying (429 and 5xx, with litellm's backoff
and the provider's retry-after; timeouts go straight to the fallbacks), the falling back and the
cooldowns.

    upstream = Upstream(targets)                      # at start-up, and again on policy reload
    result = await upstream.complete(target, messages, {"temperature": 0.2})
    async with await upstream.stream(target, messages, {"stream_options": {...}}) as stream:
        async for chunk in stream: ...
    await close_clients()                             # at shutdown, on the serving event loop

The decision owns the budget: a client's own max_tokens, max_completion_tokens, reasoning_effort,
thinking and extra_body are dropped (``DECIDED_PARAMS``); its other parameters pass through.

A target with ``strategy.samples = N`` sends N calls at once: ``majority_vote`` returns the answer
most samples agree on (``router.upstream.voting``), ``first`` the first sample to succeed (the
others are cancelled). Usage and cost are summed over the samples.

Cost: litellm prices every answer on its way out (``response_cost`` among the response's hidden
params; on a stream, ``usage.cost`` in the usage chunk). That price is the one reported: an answer
is priced again only when litellm left none, and a model litellm has no price for costs 0. A
target's ``price`` (the policy's) is handed to litellm as the deployment's own per-token price,
which then wins over its price map, for the target's model and wherever that model is a fallback.

Logs: importing this module sets litellm's loggers to WARNING (their INFO lines come two per
call), unless ``LITELLM_LOG`` is set.

Keys: ``api_key_env`` names the environment variable holding a target's key, read once here.
A target whose key is missing fails with ``MissingProviderKeyError`` before anything is sent,
unless it has an ``api_base`` (a local server): such a target, and any target with an api_base
but no api_key_env, is sent the placeholder key ``EMPTY``, never a provider's default key. A
target with neither relies on litellm's own variable for its provider (``OPENAI_API_KEY``...),
which is checked the same way. Keys never appear in errors or logs.

Errors leave this module as ``router.errors`` classes with the litellm exception as the cause:

    litellm exception                       raised as
    Timeout                                 UpstreamTimeoutError        504
    RateLimitError                          UpstreamRateLimitedError    429
    AuthenticationError                     MissingProviderKeyError     502 (names the key's
                                                                        variable)
    RouterRateLimitError (all cooling down) UpstreamCoolingDownError    503 (Retry-After)
    BadRequestError (and its subclasses)    RequestError                400
    any other OpenAIError (5xx, network)    UpstreamError               502
"""

from __future__ import annotations

import os

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("LITELLM_OFFLINE_MODE", "true")

import asyncio
import logging
import math
import time
from collections.abc import (
    AsyncGenerator,
    AsyncIterator,
    Awaitable,
    Callable,
    Collection,
    Iterable,
    Iterator,
    Mapping,
    Sequence,
)
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Final, Protocol, Self, cast

import openai
from litellm.cost_calculator import completion_cost, cost_per_token
from litellm.exceptions import (
    AuthenticationError,
    BadRequestError,
    RateLimitError,
    Timeout,
)
from litellm.llms.custom_httpx.async_client_cleanup import close_litellm_async_clients
from litellm.router import Router
from litellm.types.router import RetryPolicy, RouterRateLimitError
from litellm.utils import validate_environment

from records import Budget, Price, Strategy
from router.decision.budgets import ReasoningControl, budget_params, control_of, steers
from router.errors import (
    EmptyAnswerError,
    MissingProviderKeyError,
    RequestError,
    UpstreamCoolingDownError,
    UpstreamError,
    UpstreamRateLimitedError,
    UpstreamTimeoutError,
)
from router.upstream.answers import has_answer, starts_answer
from router.upstream.voting import extractable, majority_vote

__all__ = [
    "PLACEHOLDER_KEY",
    "TargetFields",
    "Upstream",
    "UpstreamResult",
    "UpstreamStream",
    "UpstreamTarget",
    "Usage",
    "close_clients",
    "spent",
]

logger = logging.getLogger(__name__)

PLACEHOLDER_KEY: Final = "EMPTY"
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
_ERROR_DETAIL_CHARS: Final = 300
_LITELLM_LOGGERS: Final = ("LiteLLM", "LiteLLM Router", "LiteLLM Proxy")

Message = Mapping[str, Any]
Chunk = dict[str, Any]


def _quiet_litellm_logs() -> None:
    """Keep litellm's per-call INFO lines out of the log, unless LITELLM_LOG asks for them.

    litellm logs two INFO lines per call, each printed twice once the service logs at INFO (by its
    own stderr handler, then by the root logger's); its warnings and errors still come through.
    """
    if os.environ.get("LITELLM_LOG") is None:
        for name in _LITELLM_LOGGERS:
            logging.getLogger(name).setLevel(logging.WARNING)


_quiet_litellm_logs()


class TargetFields(Protocol):
    """What a policy tier has that a call needs (``router.decision.policy.Tier`` fits)."""

    @property
    def model(self) -> str: ...
    @property
    def budget(self) -> Budget: ...
    @property
    def strategy(self) -> Strategy: ...
    @property
    def fallbacks(self) -> Sequence[str]: ...
    @property
    def timeout_s(self) -> float: ...
    @property
    def api_base(self) -> str | None: ...
    @property
    def api_key_env(self) -> str | None: ...
    @property
    def price(self) -> Price | None: ...
    @property
    def reasoning(self) -> ReasoningControl | None: ...


@dataclass(frozen=True)
class UpstreamTarget:
    """What a call needs from a policy tier: where, how hard to think, what to fall back to."""

    model: str
    budget: Budget
    strategy: Strategy = field(default_factory=Strategy)
    fallbacks: tuple[str, ...] = ()
    timeout_s: float = 60.0
    api_base: str | None = None
    api_key_env: str | None = None
    price: Price | None = None
    # None: recognised from the model id (router.decision.budgets).
    reasoning: ReasoningControl | None = None

    @classmethod
    def of(cls, tier: TargetFields) -> UpstreamTarget:
        return cls(
            model=tier.model,
            budget=tier.budget,
            strategy=tier.strategy,
            fallbacks=tuple(tier.fallbacks),
            timeout_s=tier.timeout_s,
            api_base=tier.api_base,
            api_key_env=tier.api_key_env,
            price=tier.price,
            reasoning=tier.reasoning,
        )


@dataclass(frozen=True)
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0
    reasoning_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.prompt_tokens + other.prompt_tokens,
            self.completion_tokens + other.completion_tokens,
            self.reasoning_tokens + other.reasoning_tokens,
        )

    @classmethod
    def from_openai(cls, usage: Mapping[str, Any] | None) -> Usage:
        """Read an OpenAI ``usage`` object (reasoning tokens from completion_tokens_details)."""
        if not usage:
            return cls()
        details = usage.get("completion_tokens_details") or {}
        return cls(
            int(usage.get("prompt_tokens") or 0),
            int(usage.get("completion_tokens") or 0),
            int(details.get("reasoning_tokens") or 0),
        )

    def as_openai(self) -> dict[str, Any]:
        return {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.total_tokens,
            "completion_tokens_details": {"reasoning_tokens": self.reasoning_tokens},
        }


@dataclass(frozen=True)
class UpstreamResult:
    """One answer, however many calls it took.

    ``response`` is the OpenAI-shaped completion; with several samples it is the chosen one, its
    ``usage`` replaced by the sum over all samples. ``model`` is the litellm id that answered
    (a fallback's, if one was used).
    """

    response: dict[str, Any]
    model: str
    usage: Usage
    cost_usd: float
    latency_ms: float
    samples: int = 1
    vote: str | None = None
    """E.g. ``3 samples: 2x'42', 1x'41'``; None for a single sample."""


@dataclass(frozen=True)
class _Sample:
    response: dict[str, Any]
    model: str
    usage: Usage
    cost_usd: float

    @property
    def text(self) -> str:
        choices = self.response.get("choices") or [{}]
        return str((choices[0].get("message") or {}).get("content") or "")


@dataclass(frozen=True)
class _Route:
    """A target as the Router knows it."""

    group: str
    model: str
    described: str
    missing_key: str | None
    key_env: str | None = None
    fallbacks: tuple[tuple[str, str], ...] = ()
    """(group, model) of each fallback, in order: tried again on an empty answer."""


@dataclass(frozen=True)
class _Endpoint:
    """Where a model is served, with which key, at what price (None: litellm's) and how it is
    told a thinking budget (None: recognised from its id)."""

    api_base: str | None = None
    api_key_env: str | None = None
    price: Price | None = None
    reasoning: ReasoningControl | None = None

    @classmethod
    def of(cls, target: UpstreamTarget) -> _Endpoint:
        return cls(target.api_base, target.api_key_env, target.price, target.reasoning)


@dataclass(frozen=True)
class _Credentials:
    api_key: str | None
    missing: str | None


class UpstreamStream:
    """An open stream of OpenAI-shaped chunks. Iterate it once; close it (or leave an
    ``async with`` block) to drop the upstream connection early. Cancelling the task that
    iterates it closes the connection too.

    ``model``, ``usage``, ``cost_usd`` and ``latency_ms`` are final once the stream ends. Usage
    is always asked of the provider; the usage chunk reaches the caller only if it asked for one
    (``stream_options.include_usage``).
    """

    def __init__(
        self,
        chunks: AsyncGenerator[Chunk, None],
        *,
        model: str,
        include_usage: bool,
        started: float,
        vote: str | None = None,
        on_close: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.model = model
        self.vote = vote
        self.usage = Usage()
        self.cost_usd = 0.0
        self.latency_ms = 0.0
        self._include_usage = include_usage
        self._started = started
        self._on_close = on_close
        self._chunks = self._observed(chunks)

    def __aiter__(self) -> AsyncIterator[Chunk]:
        return self._chunks

    async def aclose(self) -> None:
        """Stop the stream and drop the upstream connection, read to the end or not."""
        await self._chunks.aclose()
        await self._release()

    async def _release(self) -> None:
        on_close, self._on_close = self._on_close, None
        if on_close is not None:
            await on_close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def _observed(self, chunks: AsyncGenerator[Chunk, None]) -> AsyncGenerator[Chunk, None]:
        try:
            async for chunk in chunks:
                if chunk.get("usage"):
                    self.usage = Usage.from_openai(chunk["usage"])
                    self.cost_usd = _stream_cost(self.model, chunk["usage"])
                    if not self._include_usage:
                        if not chunk.get("choices"):
                            continue
                        chunk = {key: value for key, value in chunk.items() if key != "usage"}
                yield chunk
        finally:
            self.latency_ms = _elapsed_ms(self._started)
            await chunks.aclose()
            await self._release()


class Upstream:
    """The Router for a set of targets, and the calls made through it."""

    def __init__(
        self,
        targets: Iterable[UpstreamTarget],
        *,
        num_retries: int = 2,
        cooldown_s: float | None = None,
        allowed_fails: int | None = None,
    ) -> None:
        targets = list(targets)
        self._endpoints = _endpoints(targets)
        self._secrets: set[str] = set()
        self._routes: dict[tuple[object, ...], _Route] = {}
        self._model_list: list[dict[str, Any]] = []
        self._fallbacks: list[dict[str, list[str]]] = []
        self._unsteered: set[str] = set()
        for target in targets:
            self._add_target(target)
        self._router = Router(
            model_list=self._model_list,
            fallbacks=self._fallbacks,
            num_retries=num_retries,
            retry_policy=_retry_policy(num_retries),
            cooldown_time=cooldown_s,
            allowed_fails=allowed_fails,
        )

    async def complete(
        self,
        target: UpstreamTarget,
        messages: Sequence[Message],
        extra_params: Mapping[str, Any] | None = None,
    ) -> UpstreamResult:
        """One answer for ``messages`` from ``target`` (after retries, fallbacks and voting)."""
        route = self._route(target)
        params = _client_params(extra_params)
        params.pop("stream_options", None)
        started = time.perf_counter()
        samples = target.strategy.samples
        if samples == 1:
            sample = await self._sample(route, messages, params)
            return _result(sample, sample.usage, sample.cost_usd, started)
        if target.strategy.select == "first":
            return await self._first(route, samples, messages, params, started)
        return await self._majority(route, samples, messages, params, started)

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
        started = time.perf_counter()
        if target.strategy.samples > 1:
            result = await self.complete(target, messages, extra_params)
            return UpstreamStream(
                _replayed(result),
                model=result.model,
                include_usage=include_usage,
                started=started,
                vote=result.vote,
            )
        opened = await self._open(route, route.group, messages, params)
        tried, empty = {opened[0]}, [opened[0]]
        for group, model in route.fallbacks:
            if opened[1] is not None or model in tried:
                continue
            tried.add(model)
            logger.warning("%s sent an empty stream; trying %s", opened[0], model)
            opened = await self._open(route, group, messages, params, fallbacks=[])
            empty.append(opened[0])
        answering, stream = opened
        if stream is None:
            raise EmptyAnswerError(
                f"{route.described} sent a stream without any choice ({', '.join(empty)}):"
                " no answer to return",
                model=route.model,
            )
        source, read_ahead, chunks = stream
        return UpstreamStream(
            _resumed(read_ahead, chunks),
            model=answering,
            include_usage=include_usage,
            started=started,
            on_close=source.aclose,
        )

    async def _open(
        self,
        route: _Route,
        group: str,
        messages: Sequence[Message],
        params: Mapping[str, Any],
        **options: Any,
    ) -> tuple[str, tuple[Any, list[Chunk], AsyncGenerator[Chunk, None]] | None]:
        """The answering model and its stream, read up to its first chunk with a choice;
        None for the stream if it ended before one (closed)."""
        with _translated(route, self._secrets):
            source = await self._router.acompletion(
                model=group,
                messages=_messages(messages),
                stream=True,
                stream_options={"include_usage": True},
                **params,
                **options,
            )
        answering = _answering_model(source, route.model)
        chunks = _streamed(source, route, self._secrets)
        read_ahead: list[Chunk] = []
        try:
            async for chunk in chunks:
                read_ahead.append(chunk)
                if starts_answer(chunk):
                    return answering, (source, read_ahead, chunks)
        except BaseException:
            await source.aclose()
            raise
        await source.aclose()
        return answering, None

    async def _sample(
        self, route: _Route, messages: Sequence[Message], params: Mapping[str, Any]
    ) -> _Sample:
        """One answer: the route's (after litellm's retries and fallbacks), or, when that is
        empty, the first non-empty answer of a fallback that did not answer yet."""
        sample = await self._call(route, route.group, messages, params)
        tried = {sample.model}
        empty = [sample]
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
        raise _charged(
            error, sum((s.usage for s in empty), Usage()), sum(s.cost_usd for s in empty)
        )

    async def _call(
        self,
        route: _Route,
        group: str,
        messages: Sequence[Message],
        params: Mapping[str, Any],
        **options: Any,
    ) -> _Sample:
        with _translated(route, self._secrets):
            response = await self._router.acompletion(
                model=group, messages=_messages(messages), **params, **options
            )
        data = response.model_dump(exclude_none=True)
        return _Sample(
            data,
            _answering_model(response, route.model),
            Usage.from_openai(data.get("usage")),
            _response_cost(response),
        )

    async def _majority(
        self,
        route: _Route,
        samples: int,
        messages: Sequence[Message],
        params: Mapping[str, Any],
        started: float,
    ) -> UpstreamResult:
        calls = (self._sample(route, messages, params) for _ in range(samples))
        outcomes = await asyncio.gather(*calls, return_exceptions=True)
        usage, cost = _total_spent(outcomes)
        answered = [outcome for outcome in outcomes if isinstance(outcome, _Sample)]
        failures = _failures(outcomes, route, usage, cost)
        if sum(extractable(sample.text) for sample in answered) < 2:
            failed = f", {len(failures)} failed" if failures else ""
            summary = f"{samples} samples{failed}: no final answers to vote on, first taken"
            return _result(answered[0], usage, cost, started, samples, summary)
        vote = majority_vote([sample.text for sample in answered], failed=len(failures))
        return _result(answered[vote.winner], usage, cost, started, samples, vote.summary())

    async def _first(
        self,
        route: _Route,
        samples: int,
        messages: Sequence[Message],
        params: Mapping[str, Any],
        started: float,
    ) -> UpstreamResult:
        tasks = [
            asyncio.ensure_future(self._sample(route, messages, params)) for _ in range(samples)
        ]
        try:
            for next_done in asyncio.as_completed(tasks):
                try:
                    sample = await next_done
                except Exception:
                    continue
                break
            else:
                errors = _task_errors(tasks)
                usage, cost = _total_spent(errors)
                error = errors[0]
                raise _charged(error, usage, cost) if isinstance(error, UpstreamError) else error
        finally:
            for task in tasks:
                task.cancel()
            outcomes = await asyncio.gather(*tasks, return_exceptions=True)
        failed = len(_task_errors(tasks))
        summary = f"first of {samples} samples" + (f" ({failed} failed)" if failed else "")
        usage, cost = _total_spent(outcomes)  # samples that finished meanwhile are billed too
        return _result(sample, usage, cost, started, samples, summary)

    def _route(self, target: UpstreamTarget) -> _Route:
        route = self._routes.get(_target_key(target))
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
        key = _target_key(target)
        if key in self._routes:
            return
        endpoint = _Endpoint.of(target)
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
        self._routes[key] = _Route(
            group,
            target.model,
            described,
            credentials.missing,
            key_env=endpoint.api_key_env,
            fallbacks=tuple(zip(fallback_groups, _group_models(fallback_groups), strict=True)),
        )

    def _deploy_fallback(self, model: str, target: UpstreamTarget) -> str | None:
        endpoint = self._endpoints.get(model, _Endpoint())
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
        self, model: str, endpoint: _Endpoint, target: UpstreamTarget
    ) -> tuple[str, _Credentials]:
        """Add a model group for ``model`` under the target's budget and timeout."""
        credentials = _credentials(model, endpoint)
        if credentials.api_key is not None and credentials.api_key != PLACEHOLDER_KEY:
            self._secrets.add(credentials.api_key)
        group = f"{model}#{len(self._model_list)}"
        params: dict[str, Any] = {
            "model": model,
            "timeout": attempt_timeout_s(target),
            "stream_timeout": attempt_timeout_s(target),
            **budget_params(model, target.budget, endpoint.reasoning),
        }
        if endpoint.api_base is not None:
            params["api_base"] = endpoint.api_base
        if credentials.api_key is not None:
            params["api_key"] = credentials.api_key
        if endpoint.price is not None:
            params.update(_price_params(endpoint.price))
        self._model_list.append({"model_name": group, "litellm_params": params})
        self._note_unsteered(model, target.budget, endpoint.reasoning)
        return group, credentials

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
    await close_litellm_async_clients()  # type: ignore[no-untyped-call]  # untyped in litellm


def attempt_timeout_s(target: UpstreamTarget) -> float:
    """How long one attempt may take: an equal share of the tier's ``timeout_s`` (the whole
    request's deadline) for the model and each fallback, so a hanging model leaves its
    fallbacks time to answer."""
    return target.timeout_s / (1 + len(target.fallbacks))


def _charged(error: UpstreamError, usage: Usage, cost_usd: float) -> UpstreamError:
    """``error``, noting what the request spent before it failed."""
    error.spent_tokens = (usage.prompt_tokens, usage.completion_tokens, usage.reasoning_tokens)
    error.spent_cost_usd = cost_usd
    return error


def spent(error: BaseException) -> tuple[Usage, float]:
    """What a failed call still cost (tokens and dollars), as ``_charged`` noted it."""
    if not isinstance(error, UpstreamError):
        return Usage(), 0.0
    return Usage(*error.spent_tokens), error.spent_cost_usd


def _group_models(groups: Sequence[str]) -> list[str]:
    """The model of each ``<model>#<n>`` group."""
    return [group.rsplit("#", 1)[0] for group in groups]


def _target_key(target: UpstreamTarget) -> tuple[object, ...]:
    """What makes two targets one route (the strategy is applied around the Router)."""
    return (
        target.model,
        target.budget,
        target.fallbacks,
        target.timeout_s,
        target.api_base,
        target.api_key_env,
        target.price,
        target.reasoning,
    )


def _price_params(price: Price) -> dict[str, float]:
    """``price`` as litellm's per-token deployment pricing (cache writes cost as input)."""
    cached = price.cached_input_per_mtok
    cached = price.input_per_mtok if cached is None else cached
    return {
        "input_cost_per_token": price.input_per_mtok / 1e6,
        "output_cost_per_token": price.output_per_mtok / 1e6,
        "cache_read_input_token_cost": cached / 1e6,
        "cache_creation_input_token_cost": price.input_per_mtok / 1e6,
    }


def _endpoints(targets: Iterable[UpstreamTarget]) -> dict[str, _Endpoint]:
    """Where each model is served, as its targets say; fallbacks are sent there too."""
    endpoints: dict[str, _Endpoint] = {}
    for target in targets:
        endpoints.setdefault(target.model, _Endpoint.of(target))
    return endpoints


def _credentials(model: str, endpoint: _Endpoint) -> _Credentials:
    if endpoint.api_key_env is not None:
        key = os.environ.get(endpoint.api_key_env)
        if key:
            return _Credentials(key, None)
        if endpoint.api_base is None:
            return _Credentials(None, endpoint.api_key_env)
    if endpoint.api_base is not None:
        return _Credentials(PLACEHOLDER_KEY, None)
    found = validate_environment(model=model)
    if found.get("keys_in_environment", True):
        return _Credentials(None, None)
    return _Credentials(None, " or ".join(found.get("missing_keys") or ["the provider's key"]))


def _retry_policy(num_retries: int) -> RetryPolicy:
    """Retry what may pass (429, 5xx); a timeout goes to the fallbacks; a refusal is final."""
    return RetryPolicy(
        RateLimitErrorRetries=num_retries,
        InternalServerErrorRetries=num_retries,
        ServiceUnavailableErrorRetries=num_retries,
        DefaultRetries=num_retries,
        TimeoutErrorRetries=0,
        BadRequestErrorRetries=0,
        AuthenticationErrorRetries=0,
        ContentPolicyViolationErrorRetries=0,
        NotFoundErrorRetries=0,
    )


def _client_params(extra_params: Mapping[str, Any] | None) -> dict[str, Any]:
    """The client's parameters, without those the decision owns."""
    return {key: value for key, value in (extra_params or {}).items() if key not in DECIDED_PARAMS}


def _messages(messages: Sequence[Message]) -> Any:
    return [dict(message) for message in messages]


def _hidden_params(response: object) -> Mapping[str, Any]:
    hidden = getattr(response, "_hidden_params", None)
    return hidden if isinstance(hidden, Mapping) else {}


def _answering_model(response: object, requested: str) -> str:
    """The litellm id of the deployment that answered: ``requested`` or one of its fallbacks."""
    return str(_hidden_params(response).get("litellm_model_name") or requested)


def _response_cost(response: object) -> float:
    """litellm's price of a response: the one it stamped on it while answering (None when it has
    no price for the model), worked out again only if it stamped none."""
    hidden = _hidden_params(response)
    if "response_cost" in hidden:
        return _cost(hidden["response_cost"])
    try:
        return float(completion_cost(completion_response=response))
    except Exception:  # litellm raises several types for a model it has no price for
        return 0.0


def _stream_cost(model: str, usage: Mapping[str, Any]) -> float:
    """The price of a streamed answer: the one litellm wrote into the usage chunk (``cost``, the
    figure it also stamps as the chunk's response_cost), else the tokens at litellm's price."""
    if "cost" in usage:
        return _cost(usage["cost"])
    return _token_cost(model, Usage.from_openai(usage))


def _cost(value: object) -> float:
    return float(value) if isinstance(value, int | float) and value >= 0 else 0.0


def _token_cost(model: str, usage: Usage) -> float:
    try:
        prompt, completion = cost_per_token(
            model=model,
            prompt_tokens=usage.prompt_tokens,
            completion_tokens=usage.completion_tokens,
        )
    except Exception:  # litellm raises several types for a model it has no price for
        return 0.0
    return float(prompt + completion)


def _elapsed_ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000.0


def _result(
    sample: _Sample,
    usage: Usage,
    cost: float,
    started: float,
    samples: int = 1,
    vote: str | None = None,
) -> UpstreamResult:
    response = sample.response if samples == 1 else sample.response | {"usage": usage.as_openai()}
    return UpstreamResult(response, sample.model, usage, cost, _elapsed_ms(started), samples, vote)


def _task_errors(tasks: Iterable[asyncio.Future[_Sample]]) -> list[BaseException]:
    """The errors of the tasks that have failed so far, in task order."""
    done = [task for task in tasks if task.done() and not task.cancelled()]
    return [error for task in done if (error := task.exception()) is not None]


def _total_spent(outcomes: Iterable[object]) -> tuple[Usage, float]:
    """Tokens and dollars of every sample: answered, or failed after being billed."""
    usage, cost = Usage(), 0.0
    for outcome in outcomes:
        if isinstance(outcome, _Sample):
            usage, cost = usage + outcome.usage, cost + outcome.cost_usd
        elif isinstance(outcome, BaseException):
            lost_usage, lost_cost = spent(outcome)
            usage, cost = usage + lost_usage, cost + lost_cost
    return usage, cost


def _failures(
    outcomes: Sequence[object], route: _Route, usage: Usage, cost: float
) -> list[Exception]:
    """The samples' errors; raises the first (charged with every sample's cost) if no sample
    succeeded, or any cancellation."""
    errors: list[Exception] = []
    for outcome in outcomes:
        if isinstance(outcome, BaseException) and not isinstance(outcome, Exception):
            raise outcome
        if isinstance(outcome, Exception):
            errors.append(outcome)
    if len(errors) == len(outcomes):
        first = errors[0]
        raise _charged(first, usage, cost) if isinstance(first, UpstreamError) else first
    if errors:
        logger.warning(
            "%d of %d samples from %s failed, the vote goes on without them: %s",
            len(errors),
            len(outcomes),
            route.described,
            ", ".join(type(error).__name__ for error in errors),
        )
    return errors


async def _streamed(
    source: Any, route: _Route, secrets: Collection[str]
) -> AsyncGenerator[Chunk, None]:
    """litellm's chunks as dicts (the ``UpstreamStream`` around them closes ``source``)."""
    with _translated(route, secrets):
        async for chunk in source:
            yield cast(Chunk, chunk.model_dump(exclude_none=True))


async def _resumed(
    read_ahead: Sequence[Chunk], rest: AsyncGenerator[Chunk, None]
) -> AsyncGenerator[Chunk, None]:
    """A stream whose first chunks were read ahead."""
    try:
        for chunk in read_ahead:
            yield chunk
        async for chunk in rest:
            yield chunk
    finally:
        await rest.aclose()


async def _replayed(result: UpstreamResult) -> AsyncGenerator[Chunk, None]:
    """A finished completion as the chunks a stream of it would have sent."""
    base = {key: result.response.get(key) for key in ("id", "created", "model")}
    base["object"] = "chat.completion.chunk"
    choice = (result.response.get("choices") or [{}])[0]
    message = choice.get("message") or {}
    delta = {"role": "assistant", "content": message.get("content") or ""}
    yield base | {"choices": [{"index": 0, "delta": delta}]}
    finish = choice.get("finish_reason") or "stop"
    yield base | {"choices": [{"index": 0, "delta": {}, "finish_reason": finish}]}
    yield base | {"choices": [], "usage": result.usage.as_openai()}


def _redacted(text: str, secrets: Collection[str]) -> str:
    for secret in secrets:
        text = text.replace(secret, "***")
    return text


def _detail(exc: BaseException, secrets: Collection[str]) -> str:
    """The first line of a provider's error message, short and without keys."""
    message = str(getattr(exc, "message", None) or exc)
    first_line = message.strip().splitlines()[0] if message.strip() else type(exc).__name__
    return _redacted(first_line, secrets)[:_ERROR_DETAIL_CHARS]


@contextmanager
def _translated(route: _Route, secrets: Collection[str]) -> Iterator[None]:
    """Raise litellm's exceptions as ``router.errors`` ones, keeping the cause."""
    said, model = route.described, route.model
    try:
        yield
    except Timeout as exc:
        raise UpstreamTimeoutError(f"{said} did not answer in time", model=model) from exc
    except RouterRateLimitError as exc:
        # Not this request's failure: earlier ones put every deployment left to try to rest.
        wait_s = max(1, math.ceil(exc.cooldown_time))
        message = (
            f"{said} was not called: every deployment left to try is resting for up to"
            f" {wait_s} s after recent failures of other requests; retry after that"
        )
        headers = {"Retry-After": str(wait_s)}
        raise UpstreamCoolingDownError(message, model=model, headers=headers) from exc
    except RateLimitError as exc:
        message = f"{said} answered 429 (rate limited) to this request and the retries ran out"
        raise UpstreamRateLimitedError(message, model=model) from exc
    except AuthenticationError as exc:
        where = f" (set in {route.key_env})" if route.key_env else ""
        message = f"{said}: the provider refused the router's API key{where}"
        raise MissingProviderKeyError(message, model=model) from exc
    except BadRequestError as exc:
        raise RequestError(f"{said} refused the request: {_detail(exc, secrets)}") from exc
    except openai.OpenAIError as exc:
        status = getattr(exc, "status_code", None)
        code = f" (HTTP {status})" if isinstance(status, int) else ""
        message = f"{said} failed: {type(exc).__name__}{code}"
        raise UpstreamError(message, model=model) from exc
