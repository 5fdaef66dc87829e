"""`router serve`: settings and options reach uvicorn; an unusable setup fails before listening."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi import FastAPI
from typer.testing import CliRunner

from router.access.keys import Scope, issue
from router.access.keystore import KeyFile
from router.cli.deps import CliDeps
from router.cli.main import app
from router.service.shutdown import GracefulServer
from router.settings import Settings
from tests.router.conftest import small_policy_data
from tests.router.service.api.conftest import publish_classifier


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """What ``router serve`` would have served, instead of serving it."""
    calls: list[dict[str, Any]] = []

    def run(server: GracefulServer, sockets: Any = None) -> None:
        config = server.config
        calls.append(
            {
                "app": config.app,
                "host": config.host,
                "port": config.port,
                "timeout_keep_alive": config.timeout_keep_alive,
                "timeout_graceful_shutdown": config.timeout_graceful_shutdown,
                "shutdown": server.draining,
            }
        )

    monkeypatch.setattr(GracefulServer, "run", run)
    return calls


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    models_dir = tmp_path / "models"
    publish_classifier(models_dir)
    policy_path = tmp_path / "policy.yaml"
    policy_path.write_text(yaml.safe_dump(small_policy_data()), encoding="utf-8")
    return Settings(models_dir=models_dir, policy_path=policy_path, port=9123)


def invoke(settings: Settings, *args: str) -> Any:
    return CliRunner().invoke(app, ["serve", *args], obj=CliDeps(settings=lambda: settings))


def test_serve_runs_the_app_on_the_configured_address(
    settings: Settings, served: list[dict[str, Any]]
) -> None:
    result = invoke(settings)

    assert result.exit_code == 0, result.output
    (call,) = served
    assert isinstance(call["app"], FastAPI)
    assert (call["host"], call["port"]) == ("127.0.0.1", 9123)
    assert call["app"].state.settings == settings
    assert call["timeout_keep_alive"] == 75, "idle connections outlive clients' own 5 s expiry"
    assert call["shutdown"] is call["app"].state.shutdown
    assert call["timeout_graceful_shutdown"] == 25, "the 20 s drain, then 5 s for error events"


def test_the_keep_alive_setting_reaches_uvicorn(
    settings: Settings, served: list[dict[str, Any]]
) -> None:
    result = invoke(settings.model_copy(update={"keep_alive_s": 30}))

    assert result.exit_code == 0, result.output
    assert served[0]["timeout_keep_alive"] == 30


def test_host_port_and_policy_options_win(
    settings: Settings, served: list[dict[str, Any]], tmp_path: Path
) -> None:
    other = tmp_path / "other.yaml"
    other.write_text(yaml.safe_dump(small_policy_data() | {"version": "other-1"}), "utf-8")
    result = invoke(settings, "--host", "127.0.0.2", "--port", "8099", "--policy", str(other))

    assert result.exit_code == 0, result.output
    (call,) = served
    assert (call["host"], call["port"]) == ("127.0.0.2", 8099)
    assert call["app"].state.settings.policy_path == other


def test_an_unreadable_policy_fails_before_listening(
    settings: Settings, served: list[dict[str, Any]], tmp_path: Path
) -> None:
    result = invoke(settings, "--policy", str(tmp_path / "missing.yaml"))

    assert result.exit_code == 2
    assert "missing.yaml: file not found" in result.output
    assert served == []


def test_a_missing_classifier_fails_before_listening(
    settings: Settings, served: list[dict[str, Any]]
) -> None:
    (settings.models_dir / "CURRENT").unlink()
    result = invoke(settings)

    assert result.exit_code == 2
    assert "CURRENT" in result.output
    assert served == []


def test_without_keys_a_public_address_refuses_to_start(
    settings: Settings, served: list[dict[str, Any]], tmp_path: Path
) -> None:
    result = invoke(settings.model_copy(update={"data_dir": tmp_path}), "--host", "0.0.0.0")

    assert result.exit_code == 2
    assert "ROUTER_OPEN_ACCESS=true" in result.output
    assert served == []


def test_open_access_or_a_key_lets_a_public_address_start(
    settings: Settings, served: list[dict[str, Any]], tmp_path: Path
) -> None:
    opened = settings.model_copy(update={"data_dir": tmp_path, "open_access": True})
    assert invoke(opened, "--host", "0.0.0.0").exit_code == 0
    key, _ = issue("app", {Scope.CHAT})
    KeyFile(tmp_path / "api-keys.json").add(key)
    keyed = settings.model_copy(update={"data_dir": tmp_path})
    result = invoke(keyed, "--host", "0.0.0.0")
    assert result.exit_code == 0, result.output
    assert [call["host"] for call in served] == ["0.0.0.0", "0.0.0.0"]
