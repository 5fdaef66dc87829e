"""``router policy validate``: check a policy file and show its tiers."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Group, RenderableType
from rich.text import Text

from router.cli.output import (
    UsageCommand,
    as_blocks,
    err,
    exit_on_router_error,
    fits,
    fitted,
    out,
)
from router.decision.policy import Policy
from router.decision.policy_file import load_policy

__all__ = ["policy_app"]

EXIT_INVALID_POLICY = 1

policy_app = typer.Typer(
    help="Check, simulate and tune policy files.", no_args_is_help=True, rich_markup_mode=None
)


@policy_app.command("validate", cls=UsageCommand)
def validate(
    file: Annotated[
        Path,
        typer.Argument(
            help="Policy YAML file.", exists=True, dir_okay=False, readable=True, metavar="FILE"
        ),
    ],
) -> None:
    """Check a policy file and show its tiers.

    ${VAR} references are resolved from the current environment.

    Exit codes: 0 valid (warnings, such as a thinking budget the model cannot take, go to
    stderr); 1 invalid (the error names file, tier and field); 2 usage error.
    """
    with exit_on_router_error(EXIT_INVALID_POLICY):
        policy = load_policy(file)
    out.print(_policy_tables(policy, file))
    for warning in policy.warnings():
        err.print(Text(f"warning: {file}: {warning}", style="yellow"), soft_wrap=True)


def _policy_tables(policy: Policy, file: Path) -> RenderableType:
    """Two tables when they fit the terminal with every id whole, else one block per tier."""
    title = f"{file}  version {policy.version}"
    routing, connection = _routing_rows(policy), _connection_rows(policy)
    if fits(*routing, out) and fits(*connection, out):
        return Group(
            fitted(*routing, console=out, title=title), Text(""), fitted(*connection, console=out)
        )
    headers = [*routing[0], *connection[0][1:]]
    rows = [[*a, *b[1:]] for a, b in zip(routing[1], connection[1], strict=True)]
    return as_blocks(headers, rows, title=title)


def _routing_rows(policy: Policy) -> tuple[list[str], list[list[str]]]:
    headers = ["tier", "band", "model", "budget", "strategy"]
    rows = [
        [
            tier.name,
            policy.band_text(tier),
            tier.model,
            tier.budget.label(),
            tier.strategy.label(),
        ]
        for tier in policy.tiers
    ]
    return headers, rows


def _connection_rows(policy: Policy) -> tuple[list[str], list[list[str]]]:
    headers = ["tier", "timeout", "budget sent as", "key env", "api_base", "fallbacks"]
    rows = []
    for tier in policy.tiers:
        control = tier.control.value + (" (by id)" if tier.reasoning is None else "")
        rows.append(
            [
                tier.name,
                f"{tier.timeout_s:g}s",
                control,
                tier.api_key_env or "-",
                tier.api_base or "-",
                "\n".join(tier.fallbacks) or "-",
            ]
        )
    return headers, rows
