"""``router policy validate``: check a policy file and show its tiers."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.box import SIMPLE_HEAD
from rich.console import Group
from rich.table import Table
from rich.text import Text

from router.cli.output import err, exit_on_router_error, out
from router.decision.policy import Policy
from router.decision.policy_file import load_policy

__all__ = ["policy_app"]

EXIT_INVALID_POLICY = 1

policy_app = typer.Typer(
    help="Check, simulate and tune policy files.", no_args_is_help=True, rich_markup_mode="markdown"
)


@policy_app.command("validate")
def validate(
    file: Annotated[
        Path,
        typer.Argument(help="Policy YAML file.", exists=True, dir_okay=False, readable=True),
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


_PLAIN: dict[str, Any] = {"box": SIMPLE_HEAD, "show_edge": False, "padding": (0, 1, 0, 0)}


def _policy_tables(policy: Policy, file: Path) -> Group:
    return Group(_routing_table(policy, file), _connection_table(policy))


def _routing_table(policy: Policy, file: Path) -> Table:
    table = Table(title=f"{file}  version {policy.version}", title_justify="left", **_PLAIN)
    for column in ("tier", "band"):
        table.add_column(column, no_wrap=True)
    table.add_column("model", overflow="fold")
    table.add_column("budget", overflow="fold")
    table.add_column("strategy", overflow="fold")
    for tier in policy.tiers:
        table.add_row(
            tier.name,
            policy.band_text(tier),
            tier.model,
            tier.budget.label(),
            f"{tier.strategy.samples} x {tier.strategy.select}",
        )
    return table


def _connection_table(policy: Policy) -> Table:
    table = Table(**_PLAIN)
    for column in ("tier", "timeout"):
        table.add_column(column, no_wrap=True)
    for column in ("budget sent as", "key env", "api_base", "fallbacks"):
        table.add_column(column, overflow="fold")
    for tier in policy.tiers:
        fallbacks = "\n".join(tier.fallbacks) or "-"
        timeout = f"{tier.timeout_s:g}s"
        control = tier.control.value + (" (by id)" if tier.reasoning is None else "")
        row = (tier.api_key_env or "-", tier.api_base or "-", fallbacks)
        table.add_row(tier.name, timeout, control, *row)
    return table
