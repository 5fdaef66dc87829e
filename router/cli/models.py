"""``router models ...`` (the model registry) and ``router train --logs`` (retrain from logs).

    router models list [--json]            versions, oldest first; * marks CURRENT
    router models show VERSION [--json]    manifest summary, gate report, switches of CURRENT
    router models promote VERSION          verify it loads, make it CURRENT, record it in HISTORY
    router models rollback                 back to the version CURRENT replaced

``models_app`` is a typer sub-app for ``router.cli.main`` to mount (``app.add_typer(models_app,
name="models")``); ``train_from_logs`` is the body of ``router train --logs``, returning its exit
code. Commands take settings from ``ctx.obj.settings`` when the context carries one (as
``router.cli.deps.CliDeps`` does), else from ``get_settings()``; they only read settings.

A running service follows CURRENT by itself (``router.service.reloader``, every
``ROUTER_RELOAD_INTERVAL_S``); with ``redis_url`` set, ``promote``, ``rollback`` and a promoting
``train --logs`` also announce the new version on Redis (``router.service.reload_bus``), so every
replica switches at once. A failed announcement is a warning: CURRENT has moved regardless.

Exit codes: 0 done (for ``train --logs``: a candidate was published *and* promoted); 1 ``train
--logs`` published a candidate that the gate refused or that could not be promoted; 2 an error:
bad data, no such version, an artifact that fails verification, nothing to roll back to.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import RenderableType
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from classifiers.artifacts.manifest import EncoderSpec
from classifiers.artifacts.registry import (
    VersionDetails,
    VersionSummary,
    describe,
    list_models,
    rollback,
    switch_current,
)
from classifiers.encoder import TextEncoder
from router.cli.output import (
    EXIT_ERROR,
    UsageCommand,
    err,
    exit_on_router_error,
    fitted,
    out,
    settings_or_exit,
)
from router.decision.policy_file import load_policy
from router.errors import RouterError
from router.service.reload_bus import announce_reload
from router.settings import Settings, get_settings

__all__ = ["models_app", "train_from_logs"]

EXIT_OK = 0
EXIT_NOT_PROMOTED = 1

models_app = typer.Typer(
    help="List, inspect, promote and roll back classifier versions.",
    no_args_is_help=True,
    rich_markup_mode=None,
)

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")]


# --- shared helpers ------------------------------------------------------------------------


def _settings(ctx: typer.Context) -> Settings:
    getter = getattr(ctx.obj, "settings", None)
    return settings_or_exit(getter if callable(getter) else get_settings)


def _number(value: Any) -> str:
    return "n/a" if not isinstance(value, int | float) else f"{value:.3f}"


# --- models list / show ----------------------------------------------------------------------


@models_app.command("list")
def list_versions(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """List every version, oldest first: created, base, gate verdict, headline metrics."""
    with exit_on_router_error():
        summaries = list_models(_settings(ctx).models_dir)
    if as_json:
        typer.echo(json.dumps([s.to_dict() for s in summaries], indent=2))
        return
    out.print(_versions_table(summaries))
    for broken in (s for s in summaries if s.problem):
        err.print(Text(f"{broken.version}: {broken.problem}", style="yellow"), soft_wrap=True)


def _versions_table(summaries: list[VersionSummary]) -> RenderableType:
    """A table when it fits the terminal with every version name whole, else a block each."""
    names = sorted({name for s in summaries for name in s.metrics})
    headers = ["version", "created", "base", "gate", *names]
    rows = [
        [
            s.version + (" *" if s.current else ""),
            s.created,
            s.base_version or "-",
            s.gate or ("unreadable" if s.problem else "-"),
            *(_number(s.metrics.get(name)) for name in names),
        ]
        for s in summaries
    ]
    return fitted(
        headers, rows, console=out, title="Classifier versions (* = CURRENT)", right=names
    )


@models_app.command(cls=UsageCommand)
def show(
    ctx: typer.Context,
    version: Annotated[str, typer.Argument(help="The version to describe.", metavar="VERSION")],
    as_json: JsonOption = False,
) -> None:
    """Show a version: what it was trained on, its metrics, its gate report and its switches."""
    with exit_on_router_error():
        details = describe(_settings(ctx).models_dir, version)
    if as_json:
        typer.echo(json.dumps(details.to_dict(), indent=2))
        return
    _print_details(details)


def _print_details(details: VersionDetails) -> None:
    from training.evaluate import EvaluationReport
    from training.evaluate_report import render_table
    from training.gate import GateDecision
    from training.gate_report import render_gate_table

    manifest = details.manifest
    facts = Table(show_header=False, box=None, padding=(0, 2, 0, 0))
    facts.add_column(style="bold")
    facts.add_column(overflow="fold")
    params = manifest.metrics.get("estimator", {})
    for name, value in (
        ("version", manifest.version + ("  (CURRENT)" if details.current else "")),
        ("created", manifest.created),
        ("encoder", _encoder_text(manifest.encoder)),
        ("estimator", ", ".join(f"{k}={v}" for k, v in params.items())),
        ("sha256", manifest.artifact.sha256),
        ("trained on", _trained_on(manifest.training_data)),
    ):
        facts.add_row(name, Text(str(value)))
    out.print(facts)
    validation = manifest.metrics.get("validation")
    if validation:
        out.print(render_table(EvaluationReport.from_dict(validation)))
    if details.gate is not None:
        out.print(render_gate_table(GateDecision.from_dict(details.gate)))
    for switch in details.history:
        out.print(
            f"{switch.time}  {switch.action}: {switch.previous or '-'} -> {switch.current}",
            soft_wrap=True,
        )


def _trained_on(data: Mapping[str, Any]) -> str:
    logs = data.get("logs")
    if isinstance(logs, dict):
        seed = data.get("seed") or {}
        return (
            f"{logs.get('train_rows')} logged decisions with feedback from {logs.get('file')}"
            f" (base {data.get('base_version')})"
            + (f" + {seed.get('train_rows')} seed rows from {seed.get('file')}" if seed else "")
        )
    return f"{data.get('train_rows', data.get('rows'))} rows of {data.get('file', '?')}"


# --- promote / rollback ------------------------------------------------------------------------


@models_app.command(cls=UsageCommand)
def promote(
    ctx: typer.Context,
    version: Annotated[str, typer.Argument(help="The version to make CURRENT.", metavar="VERSION")],
) -> None:
    """Verify VERSION loads (manifest, sha256, encoder), then make it CURRENT."""
    with exit_on_router_error():
        settings = _settings(ctx)
        switch = switch_current(settings.models_dir, version, action="promote")
    if not switch.changed:
        out.print(f"{version} is already CURRENT")
        return
    out.print(f"CURRENT: {switch.previous or '-'} -> {switch.current}")
    _announce(settings, switch.current)


@models_app.command("rollback")
def rollback_current(ctx: typer.Context) -> None:
    """Make CURRENT the version it replaced (from models/HISTORY)."""
    with exit_on_router_error():
        settings = _settings(ctx)
        switch = rollback(settings.models_dir)
    out.print(f"CURRENT: {switch.previous} -> {switch.current}")
    _announce(settings, switch.current)


def _announce(settings: Settings, version: str) -> None:
    """Tell running services over Redis (if configured); they also poll CURRENT by themselves."""
    if settings.redis_url is None:
        return
    try:
        heard = announce_reload(settings, version)
    except RouterError as exc:
        err.print(
            Text(f"warning: {exc.message}; services will notice by polling CURRENT", "yellow"),
            soft_wrap=True,
        )
        return
    out.print(f"announced {version} to {heard} running services")


# --- train --logs ------------------------------------------------------------------------------


def train_from_logs(
    logs: Path,
    seed_data: Path | None,
    base: str | None,
    version: str | None,
    as_json: bool,
    *,
    settings: Settings | None = None,
    encoder: TextEncoder | None = None,
) -> int:
    """``router train --logs EXPORT.jsonl [--seed-data FILE] [--base VERSION]``: the exit code.

    Fits a candidate on the export's logged outcomes (and the seed data), gates it against the
    base (CURRENT by default), publishes it, and makes it CURRENT if the gate passes.
    """
    from training.gate_report import render_gate_table
    from training.retrain import TierLayout, retrain

    try:
        settings = settings or settings_or_exit(get_settings)
        policy = load_policy(settings.policy_path)
        with _steps() as progress:
            result = retrain(
                logs,
                settings.models_dir,
                seed_data=seed_data,
                base_version=base,
                version=version,
                encoder=encoder,
                cache_dir=settings.data_dir / "embeddings",
                tiers=TierLayout.from_bands([tier.band for tier in policy.tiers]),
                progress=progress,
            )
    except RouterError as exc:
        err.print(Text(f"error: {exc.message}", style="red"), soft_wrap=True)
        return EXIT_ERROR
    except typer.Exit as exc:
        return int(exc.exit_code)
    if as_json:
        typer.echo(json.dumps(result.to_dict(), indent=2))
    else:
        out.print(render_gate_table(result.gate))
        for note in result.gate.notes:
            out.print(Text(f"note: {note}", style="yellow"), soft_wrap=True)
        out.print(f"published {result.version_dir}", soft_wrap=True)
        out.print(result.promotion, soft_wrap=True)
    if result.promoted:
        _announce(settings, result.version)
    return EXIT_OK if result.promoted else EXIT_NOT_PROMOTED


StepReporter = Callable[[str, int, int | None], None]


@contextmanager
def _steps() -> Iterator[StepReporter]:
    """A rich progress display on stderr with one bar per retraining step."""
    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=True,
        disable=not err.is_terminal,
    )
    tasks: dict[str, Any] = {}

    def report(step: str, done: int, total: int | None) -> None:
        if step not in tasks:
            tasks[step] = progress.add_task(step, total=total)
        progress.update(tasks[step], completed=done, total=total)

    with progress:
        yield report


def _encoder_text(encoder: EncoderSpec) -> str:
    files = "" if encoder.files_sha256 is None else f", model files sha256 {encoder.files_sha256}"
    return f"{encoder.name} ({encoder.dimension}{files})"
