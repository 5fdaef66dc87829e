"""``router doctor``: what this deployment will serve with, and what stands in its way.

    router doctor [--probe] [--policy FILE] [--json]

Prints the classifier version and its headline figures, the policy version, each tier's model
and fallbacks with the key each needs (set or missing) and, with ``--probe``, a one-token call's
answer and latency; then the decision log's store and whether it answers
(``router.cli.diagnosis``), and a warning for each model without a price (spend caps cannot count
it). ``render`` is also what ``router serve`` prints at start-up.

Exit codes: 0 every primary tier is usable; 1 a primary tier is not (a missing key, a failed
probe), or the policy or classifier will not load.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from router.cli.diagnosis import Diagnosis, diagnose
from router.cli.output import err, out, settings_or_exit
from router.settings import Settings, get_settings
from router.upstream.probe import ModelCheck

__all__ = ["doctor", "render"]

EXIT_OK = 0
EXIT_UNUSABLE = 1
_LABEL = 10  # width of the left-hand labels


def doctor(
    ctx: typer.Context,
    probe: Annotated[
        bool,
        typer.Option("--probe", help="Also send each model a one-token call and time the answer."),
    ] = False,
    policy_path: Annotated[
        Path | None,
        typer.Option(
            "--policy",
            metavar="FILE",
            help="Policy YAML file. [default: ROUTER_POLICY_PATH or the shipped policy]",
            dir_okay=False,
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the diagnosis as JSON.")] = False,
) -> None:
    """Check a deployment: classifier, policy, each tier's keys (and, with --probe, its
    upstream's answer and latency), and the decision log's store.

    Exit codes: 0 every primary tier is usable; 1 one is not, or the policy or classifier
    will not load.
    """
    settings = _settings(ctx)
    if policy_path is not None:
        settings = settings.model_copy(update={"policy_path": policy_path})
    if probe and not as_json:
        err.print("probing each model with a one-token call...", style="dim")
    diagnosis = diagnose(settings, probe_upstreams=probe)
    if as_json:
        typer.echo(json.dumps(diagnosis.to_dict(), indent=2))
    else:
        render(diagnosis, out)
    raise typer.Exit(EXIT_UNUSABLE if diagnosis.problems else EXIT_OK)


def render(diagnosis: Diagnosis, console: Console) -> None:
    """The diagnosis as labelled lines; long ones wrap between words, indented."""
    grid = Table.grid(padding=(0, 1))
    grid.add_column(no_wrap=True, min_width=_LABEL)
    grid.add_column(overflow="fold")
    for label, text in _lines(diagnosis):
        grid.add_row(label, text)
    for problem in diagnosis.problems:
        grid.add_row(Text("problem", style="red"), Text(problem, style="red"))
    for warning in diagnosis.warnings:
        grid.add_row(Text("warning", style="yellow"), Text(warning, style="yellow"))
    console.print(grid)


def _lines(diagnosis: Diagnosis) -> Iterator[tuple[str, Text | str]]:
    classifier = diagnosis.classifier
    if classifier.problem:
        yield "classifier", Text(f"unusable: {classifier.problem}", style="red")
    else:
        yield "classifier", f"{classifier.version} (from {classifier.chosen_by})"
        figures = " · ".join(f"{k} {v:.3f}" for k, v in classifier.figures.items())
        yield "", figures or "no validation figures in its manifest"
    policy = diagnosis.policy
    if policy.problem:
        yield "policy", Text(f"unusable: {policy.problem}", style="red")
    else:
        yield "policy", f"version {policy.version} ({policy.path})"
    store = diagnosis.store
    style = "green" if store.reachable else "yellow"
    yield "store", Text(f"{store.kind} {store.where}: {store.detail}", style=style)
    for check in diagnosis.checks:
        yield _check_line(check)


def _check_line(check: ModelCheck) -> tuple[str, Text]:
    label = check.tier if check.role == "primary" else ""
    head = check.model if check.role == "primary" else f"fallback {check.model}"
    where = f" at {check.api_base}" if check.api_base else ""
    text = Text(f"{head}{where}: ")
    if check.missing is not None:
        style = "red" if check.role == "primary" else "yellow"
        text.append(f"{check.missing} missing", style=style)
        return label, text
    text.append(_key_state(check))
    if check.probe is not None:
        result = check.probe
        style = "green" if result.ok else "red"
        text.append(f"; {result.detail} in {result.latency_ms:.0f} ms", style=style)
    return label, text


def _key_state(check: ModelCheck) -> str:
    if check.key_set:
        return f"{check.key_env} set"
    if check.api_base is None:
        return "provider's key found in the environment"
    if check.key_env:
        return f"{check.key_env} not set (a local server needs none)"
    return "no key (a local server)"


def _settings(ctx: typer.Context) -> Settings:
    source = getattr(ctx.obj, "settings", None)
    return settings_or_exit(source if callable(source) else get_settings)
