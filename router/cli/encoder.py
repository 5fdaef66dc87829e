"""``router encoder export``: build the serving encoder (int8 ONNX) from the installed package.

    router encoder export [--out DIR] [--replace]   write the export (default: the shipped place)
    router encoder export --check                   rebuild in a temporary directory and compare
                                                    every file's sha256 with the shipped export

Needs the ``[train]`` extra (torch, transformers, onnx). Exit codes: 0 written (or, with
``--check``, identical); 1 ``--check`` found files that differ; 2 nothing done.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from router.cli.output import exit_on_router_error, fail, out

__all__ = ["encoder_app"]

encoder_app = typer.Typer(
    help="Build the serving encoder from the installed MiniLM package.",
    no_args_is_help=True,
    rich_markup_mode="markdown",
)


@encoder_app.command("export")
def export(
    out_dir: Annotated[
        Path | None,
        typer.Option("--out", help="Directory to write; default: the shipped export."),
    ] = None,
    replace: Annotated[
        bool, typer.Option("--replace", help="Rebuild over an existing directory.")
    ] = False,
    check: Annotated[
        bool,
        typer.Option("--check", help="Rebuild aside and compare with the existing export."),
    ] = False,
) -> None:
    """Export all-MiniLM-L6-v2 to ONNX, quantise it to int8 and record each file's sha256."""
    from training.encoder_export import check_export, default_export_dir, export_encoder

    with exit_on_router_error():
        if check:
            result = check_export(out_dir)
            if not result.identical:
                for name in result.differences():
                    out.print(f"differs: {name}")
                raise typer.Exit(1)
            out.print(f"identical: {len(result.expected)} files rebuilt with the same sha256")
            return
        target = default_export_dir() if out_dir is None else out_dir
        try:
            spec = export_encoder(target, replace=replace)
        except FileExistsError as exc:
            fail(str(exc))
    for name, digest in sorted(spec["files"].items()):
        out.print(f"{name}  sha256 {digest}", soft_wrap=True)
    out.print(f"exported {spec['name']} to {target}", soft_wrap=True)
