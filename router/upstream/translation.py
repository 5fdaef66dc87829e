"""litellm's exceptions as ``router.errors`` classes, with the litellm exception as the cause:

    litellm exception                       raised as
    Timeout                                 UpstreamTimeoutError        504
    RouterRateLimitError (all cooling down) UpstreamCoolingDownError    503 (Retry-After; not
                                                                        this request's failure)
    RateLimitError                          UpstreamRateLimitedError    429
    a failure to connect (any type)         UpstreamUnreachableError    502
    AuthenticationError                     MissingProviderKeyError     502 (names the key's
                                                                        variable)
    BadRequestError (and its subclasses)    RequestError                400
    any other OpenAIError (5xx, network)    UpstreamError               502

A failure to connect (refused, DNS, TLS, connect timeout) is recognised down the exception's chain
(``router.upstream.failures``), whatever litellm called it, and names the address and the cause.
A provider's message is cut to its first line and stripped of every key the Upstream holds.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Final

from router.errors import (
    MissingProviderKeyError,
    RequestError,
    UpstreamCoolingDownError,
    UpstreamError,
    UpstreamRateLimitedError,
    UpstreamTimeoutError,
    UpstreamUnreachableError,
)
from router.upstream.failures import unreachable

__all__ = ["Route", "translated"]

_ERROR_DETAIL_CHARS: Final = 300


@dataclass(frozen=True)
class Route:
    """A target as the Router knows it."""

    group: str
    model: str
    described: str
    missing_key: str | None
    key_env: str | None = None
    fallbacks: tuple[tuple[str, str], ...] = ()
    """(group, model) of each fallback, in order: tried again on an empty answer."""


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
def translated(route: Route, secrets: Collection[str]) -> Iterator[None]:
    """Raise litellm's exceptions as ``router.errors`` ones, keeping the cause."""
    with _translated_errors(route, secrets), _named_unreachable(route):
        yield


@contextmanager
def _named_unreachable(route: Route) -> Iterator[None]:
    """A failure to connect, whatever litellm called it, as ``UpstreamUnreachableError``."""
    import openai  # imported where used, as litellm: each takes seconds

    try:
        yield
    except openai.OpenAIError as exc:
        found = unreachable(exc)
        if found is None:
            raise
        where = f" at {found.address}" if found.address else ""
        message = f"{route.described} could not be reached{where}: {found.cause}"
        raise UpstreamUnreachableError(
            message, model=route.model, address=found.address, cause=found.cause
        ) from exc


@contextmanager
def _translated_errors(route: Route, secrets: Collection[str]) -> Iterator[None]:
    import openai
    from litellm.exceptions import AuthenticationError, BadRequestError, RateLimitError, Timeout
    from litellm.types.router import RouterRateLimitError

    said, model = route.described, route.model
    try:
        yield
    except Timeout as exc:
        raise UpstreamTimeoutError(f"{said} did not answer in time", model=model) from exc
    except RouterRateLimitError as exc:
        # Not this request's failure: earlier ones put every deployment left to try to rest.
        wait_s = max(1, math.ceil(exc.cooldown_time))
        rest = (
            f"model '{model}' is resting for up to {wait_s} s after recent failures of other"
            " requests (not of this one)"
        )
        fallbacks = ", and no fallback answered this request" if route.fallbacks else ""
        message = f"{rest}{fallbacks}; retry after that"
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
