"""An upstream that cannot be reached: a fast 502 naming tier, address and cause, logged once."""

from __future__ import annotations

import logging
import socket
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.router.service.api.conftest import MakeClient, user

LOCAL_RECIPE = Path(__file__).resolve().parents[4] / "examples" / "local-upstream.yaml"


def closed_port() -> int:
    """A port nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def local_recipe() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(LOCAL_RECIPE.read_text(encoding="utf-8"))
    return data


def test_a_stopped_local_upstream_is_a_fast_502_naming_tier_address_and_cause(
    make_client: MakeClient,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    address = f"http://127.0.0.1:{closed_port()}"
    monkeypatch.setenv("ROUTER_LOCAL_UPSTREAM", f"{address}/v1")
    client = make_client(local_recipe())
    capsys.readouterr()
    caplog.clear()

    with caplog.at_level(logging.INFO):
        started = time.monotonic()
        response = client.post(
            "/v1/chat/completions", json={"model": "fast", "messages": user("hi")}
        )
        elapsed = time.monotonic() - started

    assert response.status_code == 502
    error = response.json()["error"]
    assert error["code"] == "UpstreamUnreachableError"
    assert error["message"].startswith("tier 'fast': model 'openai/local-small'")
    assert f"could not be reached at {address}: connection refused" in error["message"]
    assert elapsed < 3.0
    problems = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(problems) == 1, [r.getMessage() for r in problems]
    assert "connection refused" in problems[0].getMessage()
    assert "LiteLLM" not in capsys.readouterr().out


def test_a_stream_to_a_stopped_upstream_gets_the_same_502(
    make_client: MakeClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ROUTER_LOCAL_UPSTREAM", f"http://127.0.0.1:{closed_port()}/v1")
    client = make_client(local_recipe())

    response = client.post(
        "/v1/chat/completions", json={"model": "fast", "messages": user("hi"), "stream": True}
    )

    assert response.status_code == 502
    assert "tier 'fast'" in response.json()["error"]["message"]
    assert "connection refused" in response.json()["error"]["message"]


def test_an_unresolvable_host_says_dns(
    make_client: MakeClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ROUTER_LOCAL_UPSTREAM", "http://no-such-host.invalid:8000/v1")
    client = make_client(local_recipe())

    response = client.post("/v1/chat/completions", json={"model": "fast", "messages": user("hi")})

    assert response.status_code == 502
    message = response.json()["error"]["message"]
    assert "at http://no-such-host.invalid:8000: DNS lookup failed" in message
