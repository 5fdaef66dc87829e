"""``router serve``: the OpenAI-compatible HTTP service under uvicorn."""

from __future__ import annotations

from typing import Annotated

import typer

from router.cli.deps import PolicyOption, deps_of, settings_of
from router.cli.diagnosis import diagnose
from router.cli.doctor import render
from router.cli.output import err, exit_on_router_error, fail
from router.decision.policy_file import load_policy
from router.settings import Settings

__all__ = ["serve"]


def serve(
    ctx: typer.Context,
    host: Annotated[
        str | None,
        typer.Option(
            "--host",
            help="Address to listen on. [default: ROUTER_HOST or 127.0.0.1]",
            metavar="HOST",
        ),
    ] = None,
    port: Annotated[
        int | None,
        typer.Option(
            "--port",
            min=1,
            max=65535,
            help="Port to listen on. [default: ROUTER_PORT or 8080]",
            metavar="PORT",
        ),
    ] = None,
    policy_path: PolicyOption = None,
) -> None:
    """Serve the OpenAI-compatible API: /v1/chat/completions, /v1/route, /v1/models, /readyz.

    Uses the classifier named in models/CURRENT (or ROUTER_MODEL_VERSION) and the shipped policy
    unless --policy or ROUTER_POLICY_PATH says otherwise. Provider keys come from the variables
    the policy names in api_key_env.

    On SIGTERM open streams get ROUTER_SHUTDOWN_DRAIN_S to finish, then end with an error event.

    Exit codes: 0 stopped (SIGTERM included); 2 unusable settings, policy or classifier version,
    or a public address without API keys and without ROUTER_OPEN_ACCESS=true.
    """
    import logging

    import uvicorn

    from router.service.app import create_app
    from router.service.shutdown import GRACE_S, GracefulServer

    deps = deps_of(ctx)
    with exit_on_router_error():
        settings = settings_of(deps)
        chosen = {"host": host, "port": port, "policy_path": policy_path}
        settings = settings.model_copy(update={k: v for k, v in chosen.items() if v is not None})
        _check_servable(settings)
    render(diagnose(settings), err)
    logging.basicConfig(
        level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    app = create_app(settings)
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level.lower(),
        timeout_keep_alive=settings.keep_alive_s,
        timeout_graceful_shutdown=int(settings.shutdown_drain_s + GRACE_S),
    )
    GracefulServer(config, app.state.shutdown).run()


def _check_servable(settings: Settings) -> None:
    """Fail before listening if the policy or the classifier version cannot be found, or if
    the address is not loopback while no API key exists and open access was not asked for."""
    import asyncio

    from classifiers.artifacts.versions import resolve_version
    from router.service.access import open_access_refusal

    load_policy(settings.policy_path)
    resolve_version(settings.models_dir, settings.model_version)
    refusal = asyncio.run(open_access_refusal(settings))
    if refusal is not None:
        fail(refusal)
