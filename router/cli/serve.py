"""``router serve``: the OpenAI-compatible HTTP service under uvicorn."""

from __future__ import annotations

from typing import Annotated

import typer

from router.cli.deps import PolicyOption, deps_of, settings_of
from router.cli.diagnosis import diagnose
from router.cli.doctor import render
from router.cli.output import err, exit_on_router_error
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

    Exit codes: 0 stopped; 2 unusable settings, policy or classifier version.
    """
    import logging

    import uvicorn

    from router.service.app import create_app

    deps = deps_of(ctx)
    with exit_on_router_error():
        settings = settings_of(deps)
        if policy_path is not None:
            settings = settings.model_copy(update={"policy_path": policy_path})
        _check_servable(settings)
    render(diagnose(settings), err)
    logging.basicConfig(
        level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    uvicorn.run(
        create_app(settings),
        host=host or settings.host,
        port=port or settings.port,
        log_level=settings.log_level.lower(),
        timeout_keep_alive=settings.keep_alive_s,
        timeout_graceful_shutdown=10,
    )


def _check_servable(settings: Settings) -> None:
    """Fail before listening if the policy or the classifier version cannot be found."""
    from classifiers.artifacts.versions import resolve_version

    load_policy(settings.policy_path)
    resolve_version(settings.models_dir, settings.model_version)
