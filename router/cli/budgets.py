"""``router budgets fit``: per-prompt thinking budgets and sweet spots, learned from the log.

    router budgets fit --logs export.jsonl [--out var/budget-model.json] [--json]

Reads an export (``router logs export``), fits each (tier, model)'s need and sweet spot
(``training.budgets``) and writes the model where the service reads it, ``budget-model.json``
in ``ROUTER_DATA_DIR`` (replaced whole). The service loads it with the next snapshot (start,
classifier reload). Exit codes: 0 written; 2 nothing written (bad file or settings).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError
from rich.box import SIMPLE_HEAD
from rich.table import Table

from classifiers.errors import DataError
from router.cli.output import fail, out, settings_or_exit
from router.settings import get_settings
from training.budgets import BUDGET_MODEL_FILE, BudgetModel, fit_budgets, read_budget_rows

__all__ = ["budgets_app"]

budgets_app = typer.Typer(
    help="Per-prompt thinking budgets learned from the decision log.", no_args_is_help=True
)


@budgets_app.command("fit")
def fit(
    ctx: typer.Context,
    logs: Annotated[
        Path,
        typer.Option(
            "--logs",
            help="An export of the decision log (router logs export).",
            exists=True,
            dir_okay=False,
            readable=True,
        ),
    ],
    out_path: Annotated[
        Path | None,
        typer.Option(
            "--out", help="Where to write the model (default: the data dir's).", dir_okay=False
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the model as JSON.")] = False,
) -> None:
    """Fit each tier's per-prompt budget and sweet spot; write the model for the service."""
    source = getattr(ctx.obj, "settings", get_settings)
    target = out_path or settings_or_exit(source).data_dir / BUDGET_MODEL_FILE
    try:
        model = fit_budgets(read_budget_rows(logs), source=str(logs))
    except (DataError, ValidationError, ValueError) as exc:
        fail(f"{logs}: {exc}")
    target.parent.mkdir(parents=True, exist_ok=True)
    model.save(target)
    if as_json:
        out.print(json.dumps(json.loads(model.model_dump_json())), soft_wrap=True)
        return
    out.print(_table(model))
    out.print(f"wrote {target}", soft_wrap=True)


def _table(model: BudgetModel) -> Table:
    table = Table(box=SIMPLE_HEAD, show_edge=False, padding=(0, 1, 0, 0))
    for column in ("tier", "model", "rows", "outcomes", "per-prompt", "sigma", "sweet spot"):
        table.add_column(column, overflow="fold")
    for name, tier in model.tiers.items():
        table.add_row(
            name,
            tier.model,
            str(tier.rows),
            str(tier.outcomes),
            "fitted" if tier.fitted else "no: too few rows",
            f"{tier.sigma:.2f}",
            "-" if tier.sweet_spot is None else str(tier.sweet_spot),
        )
    return table
