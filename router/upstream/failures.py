"""Why an upstream could not be reached, read off the exception chain litellm raises.

litellm reports a refused connection, a failed DNS lookup and a TLS handshake error alike, as
``InternalServerError: Connection error.``; the cause is several links down its chain (litellm ->
openai -> httpx -> aiohttp -> the socket's own error). ``unreachable(exc)`` walks that chain and
says what went wrong and where, in words an operator can act on::

    Unreachable(address="http://127.0.0.1:8000", cause="connection refused")

``dropped(exc)`` says whether the upstream closed or reset the connection before any answer
came: a pooled connection the upstream had just closed looks like this, and the request can be
sent again (``router.upstream.pool``).
"""

from __future__ import annotations

import socket
import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import urlsplit

_MAX_LINKS = 16


@dataclass(frozen=True)
class Unreachable:
    """An upstream that could not be connected to: where (scheme://host:port) and why."""

    address: str | None
    cause: str


def unreachable(exc: BaseException) -> Unreachable | None:
    """What stopped the connection, if ``exc`` (or anything it was raised from) is a failure to
    connect; None for any other error (an HTTP status, a bad answer, a read timeout)."""
    chain = list(_chain(exc))
    cause = next((c for link in chain if (c := _cause(link)) is not None), None)
    if cause is None:
        return None
    return Unreachable(_address(chain), cause)


def dropped(exc: BaseException) -> bool:
    """Whether ``exc`` (or anything it was raised from) is the upstream closing or resetting the
    connection before it answered (aiohttp's ``ServerDisconnectedError``, httpx's "Server
    disconnected without sending a response", a reset)."""
    import aiohttp  # imported where used, as httpx: litellm's transport
    import httpx

    closed = (aiohttp.ServerDisconnectedError, httpx.RemoteProtocolError, ConnectionResetError)
    return any(isinstance(link, closed) for link in _chain(exc))


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    link: BaseException | None = exc
    while link is not None and id(link) not in seen and len(seen) < _MAX_LINKS:
        seen.add(id(link))
        yield link
        link = link.__cause__ or link.__context__


def _cause(link: BaseException) -> str | None:
    import httpx  # imported where used (a failure): the CLI starts without it

    if isinstance(link, ConnectionRefusedError):
        return "connection refused"
    if isinstance(link, socket.gaierror):
        return f"DNS lookup failed ({link.strerror or link})"
    if isinstance(link, ssl.SSLCertVerificationError):
        return f"TLS certificate not accepted ({link.verify_message or link.reason})"
    if isinstance(link, ssl.SSLError):
        return f"TLS handshake failed ({link.reason or link})"
    if isinstance(link, httpx.ConnectTimeout):
        return "connect timeout (no answer to the connection attempt)"
    if isinstance(link, ConnectionResetError):
        return "connection reset"
    return None


def _address(chain: list[BaseException]) -> str | None:
    import httpx

    for link in chain:
        if isinstance(link, httpx.HTTPError):
            try:
                url = str(link.request.url)
            except RuntimeError:  # an httpx error raised without its request
                continue
            parts = urlsplit(url)
            return f"{parts.scheme}://{parts.netloc}"
    return None
