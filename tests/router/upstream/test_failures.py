"""``unreachable`` on the real exception chains of real failed connections."""

from __future__ import annotations

import socket

import httpx
import pytest

from router.upstream.failures import Unreachable, unreachable
from tests.upstream_server import UpstreamServer


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def failure_of(url: str, **options: object) -> BaseException:
    try:
        httpx.get(url, timeout=2.0, **options)  # type: ignore[arg-type]
    except httpx.HTTPError as exc:
        try:
            raise RuntimeError("wrapped, as litellm wraps it") from exc
        except RuntimeError as wrapped:
            return wrapped
    raise AssertionError(f"{url} answered")


def test_a_refused_connection_is_named_with_its_address() -> None:
    port = free_port()
    found = unreachable(failure_of(f"http://127.0.0.1:{port}/v1/models"))

    assert found == Unreachable(f"http://127.0.0.1:{port}", "connection refused")


def test_a_name_that_does_not_resolve_is_a_dns_failure() -> None:
    found = unreachable(failure_of("http://no-such-host.invalid/v1"))

    assert found is not None and found.cause.startswith("DNS lookup failed")
    assert found.address == "http://no-such-host.invalid"


def test_tls_to_a_plain_http_server_is_a_tls_failure(upstream: UpstreamServer) -> None:
    url = upstream.url.replace("http://", "https://")
    found = unreachable(failure_of(url + "/models"))

    assert found is not None and found.cause.startswith("TLS handshake failed")


@pytest.mark.parametrize("error", [ValueError("no"), httpx.ReadTimeout("slow")])
def test_other_errors_are_not_connection_failures(error: Exception) -> None:
    assert unreachable(error) is None
