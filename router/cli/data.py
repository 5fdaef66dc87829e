"""``router data build``: a seed file rebuilt from the public sources' raw files.

    router data build --raw RAW_DIR --out seed.jsonl

RAW_DIR holds one folder per source, with the files as their publishers ship them
(``training.seed_build`` lists the layout; docs/data.md says where to download each). Sources
whose folder is missing are skipped and named; the file is written whole or not at all.

Exit codes: 0 written; 2 nothing written (no source found, a malformed raw row: the error names
the file, line and field).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.text import Text

from router.cli.output import err, exit_on_router_error, out

__all__ = ["data_app"]

data_app = typer.Typer(
    help="Build training data from public sources.", no_args_is_help=True, rich_markup_mode=None
)


@data_app.command("build")
def build(
    raw: Annotated[
        Path,
        typer.Option(
            "--raw",
            metavar="DIR",
            help="Folder with one subfolder per source (docs/data.md).",
            exists=True,
            file_okay=False,
        ),
    ],
    out_file: Annotated[
        Path,
        typer.Option("--out", metavar="FILE", help="The seed JSONL to write.", dir_okay=False),
    ],
) -> None:
    """Rebuild a seed file from the sources' raw files (docs/data.md: which, from where).

    Exit codes: 0 written; 2 nothing written (no source found, or a malformed raw row, named
    with its file, line and field).
    """
    from training.seed_build import build_seed

    def heard(source: str, rows: int | None) -> None:
        said = "not found, skipped" if rows is None else f"{rows} rows"
        err.print(Text(f"{source}: {said}", style="yellow" if rows is None else ""))

    with exit_on_router_error():
        report = build_seed(raw, out_file, on_source=heard)
    total = sum(report.rows_by_source.values())
    out.print(f"wrote {total} rows from {len(report.rows_by_source)} sources to {out_file}")
