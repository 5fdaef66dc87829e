"""``router logs export``: the decision log as JSONL for retraining.

    router logs export --out logs.jsonl [--since 2026-11-01] [--until 2026-12-01T00:00:00Z]
    router logs stats [--since ...] [--until ...] [--json]

Reads the store the settings select (SQLite under ``ROUTER_DATA_DIR``, or Redis when
``ROUTER_REDIS_URL`` is set) and writes one row per decision, with its feedback, in the format
``training.logs`` reads (see ``router.log.store.export``). ``logs_app`` is a typer sub-app for
``router.cli.main`` to mount; commands take settings from ``ctx.obj.settings`` when the context
carries one (as ``router.cli.main.CliDeps`` does), else from ``get_settings()``.

Exit codes: 0 written; 2 nothing written: bad options or settings, or an unreachable store.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from router.cli.output import exit_on_router_error, fail, out, settings_or_exit
from router.cli.stats_table import stats_table
from router.log.stats import tier_stats
from router.log.store import open_store
from router.log.store.export import export_logs
from router.settings import Settings, get_settings

__all__ = ["logs_app", "parse_time"]

logs_app = typer.Typer(
    help="Export the decision log for retraining; per-tier statistics.",
    no_args_is_help=True,
    rich_markup_mode=None,
)


def parse_time(text: str, option: str) -> datetime:
    """An ISO 8601 date or time; without a zone it is UTC. ``ValueError`` naming ``option``."""
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(
            f"{option}: {text!r} is not an ISO 8601 date or time (like 2026-11-01 or"
            " 2026-11-01T12:00:00Z)"
        ) from None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


@logs_app.command("export")
def export(
    ctx: typer.Context,
    out_path: Annotated[
        Path,
        typer.Option(
            "--out",
            help="The JSONL file to write (replaced whole).",
            dir_okay=False,
            metavar="FILE",
        ),
    ],
    since: Annotated[
        str | None,
        typer.Option(
            "--since", help="Only decisions at or after this time (ISO 8601, UTC).", metavar="TIME"
        ),
    ] = None,
    until: Annotated[
        str | None,
        typer.Option(
            "--until", help="Only decisions before this time (ISO 8601, UTC).", metavar="TIME"
        ),
    ] = None,
) -> None:
    """Write every logged decision, joined with its feedback, one JSON line each.

    Rows carry the prompt's embedding (float16, base64) and text features, so retraining needs
    neither the encoder nor the prompt text. The file appears only once complete.

    Exit codes: 0 written; 2 nothing written (bad option, settings or unreachable store).
    """
    try:
        window = (
            None if since is None else parse_time(since, "--since"),
            None if until is None else parse_time(until, "--until"),
        )
    except ValueError as exc:
        fail(str(exc))
    if window[0] is not None and window[1] is not None and window[0] >= window[1]:
        fail(f"--since {since} is not before --until {until}: the window is empty")
    if not out_path.parent.is_dir():
        fail(f"{out_path.parent}: the output directory does not exist")
    settings = _settings(ctx)
    with exit_on_router_error():
        store = open_store(settings)
        try:
            summary = export_logs(store, out_path, since=window[0], until=window[1])
        finally:
            store.close()
    out.print(
        f"exported {summary.rows} decisions ({summary.with_feedback} with feedback)"
        f" to {summary.path}",
        soft_wrap=True,
    )


@logs_app.command("stats")
def stats(
    ctx: typer.Context,
    since: Annotated[
        str | None,
        typer.Option("--since", help="Only decisions at or after this time (ISO 8601, UTC)."),
    ] = None,
    until: Annotated[
        str | None,
        typer.Option("--until", help="Only decisions before this time (ISO 8601, UTC)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per row.")] = False,
) -> None:
    """Per tier and model: tokens, reasoning tokens, cost, latency percentiles, success rate,
    control obedience and the error of the cost forecast (``router.log.stats``).

    Exit codes: 0 shown; 2 bad option, settings or unreachable store.
    """
    try:
        start = None if since is None else parse_time(since, "--since")
        end = None if until is None else parse_time(until, "--until")
    except ValueError as exc:
        fail(str(exc))
    settings = _settings(ctx)
    with exit_on_router_error():
        store = open_store(settings)
        try:
            rows = tier_stats(store.logged(since=start, until=end))
        finally:
            store.close()
    if as_json:
        for row in rows:
            out.print(json.dumps(asdict(row)), soft_wrap=True)
        return
    out.print(stats_table(rows))


def _settings(ctx: typer.Context) -> Settings:
    source: Callable[[], Settings] = getattr(ctx.obj, "settings", get_settings)
    return settings_or_exit(source)
