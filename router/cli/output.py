"""What every ``router`` command shares: its consoles, and how an error ends a command.

An error is one line on stderr, ``error: <message>``, then exit code ``EXIT_ERROR`` (2) unless
the command says otherwise; settings that do not validate name each variable and its problem:

    with exit_on_router_error():               # a RouterError ends the command this way
        settings = settings_or_exit(get_settings)
        ...
    fail("the output directory does not exist")

A table whose ids must stay whole at any width (``router models list``, ``policy validate``) is
built with ``fitted(...)``: the table when every cell fits the console whole, else one block a
row, ``column  value`` lines that wrap between words, never inside an id.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Final, NoReturn

import typer
from pydantic import ValidationError
from pydantic_core import ErrorDetails
from rich.box import SIMPLE_HEAD
from rich.console import Console, Group, RenderableType
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text
from typer import _click
from typer.core import TyperArgument, TyperCommand

from router.errors import RouterError
from router.settings import Settings

__all__ = [
    "EXIT_ERROR",
    "UsageCommand",
    "as_blocks",
    "err",
    "exit_on_router_error",
    "fail",
    "fits",
    "fitted",
    "out",
    "settings_or_exit",
]

EXIT_ERROR: Final = 2

out = Console(markup=False, highlight=False)
err = Console(stderr=True, markup=False, highlight=False)


def fail(message: str, code: int = EXIT_ERROR) -> NoReturn:
    """Print ``error: <message>`` on stderr and exit with ``code``."""
    err.print(Text(f"error: {message}", style="red"), soft_wrap=True)
    raise typer.Exit(code)


@contextmanager
def exit_on_router_error(code: int = EXIT_ERROR) -> Iterator[None]:
    """Print a ``RouterError`` as ``error: <message>`` and exit with ``code``."""
    try:
        yield
    except RouterError as exc:
        fail(exc.message, code)


def settings_or_exit(source: Callable[[], Settings]) -> Settings:
    """``source()``, or an error naming every ``ROUTER_*`` variable that does not validate."""
    try:
        return source()
    except ValidationError as exc:
        fail(f"settings: {'; '.join(map(_setting_problem, exc.errors(include_url=False)))}")


def _setting_problem(error: ErrorDetails) -> str:
    name = "ROUTER_" + "_".join(map(str, error["loc"])).upper()
    return f"{name}: {error['msg'].removeprefix('Value error, ')}"


PLAIN: Final[dict[str, Any]] = {"box": SIMPLE_HEAD, "show_edge": False, "padding": (0, 1, 0, 0)}
_INDENT: Final = "  "
_UNBOUNDED: Final = 10_000


def fitted(
    headers: Sequence[str],
    rows: Sequence[Sequence[str]],
    *,
    console: Console,
    title: str | None = None,
    right: Sequence[str] = (),
) -> RenderableType:
    """``rows`` as a table if every cell fits the console whole, else as blocks (one per row,
    headed by its first cell). A cell may hold several lines; ``right`` columns align right."""
    if fits(headers, rows, console, right=right):
        return _table(headers, rows, title, right)
    return as_blocks(headers, rows, title=title)


def fits(
    headers: Sequence[str],
    rows: Sequence[Sequence[str]],
    console: Console,
    *,
    right: Sequence[str] = (),
) -> bool:
    """Whether the table of ``rows`` fits the console with every cell whole."""
    table = _table(headers, rows, None, right)
    unbounded = console.options.update_width(_UNBOUNDED)
    return Measurement.get(console, unbounded, table).maximum <= console.width


def as_blocks(
    headers: Sequence[str], rows: Sequence[Sequence[str]], *, title: str | None = None
) -> RenderableType:
    """One block a row: its first cell, then ``header  value`` lines wrapping between words."""
    blocks: list[RenderableType] = [Text(title)] if title else []
    for row in rows:
        grid = Table.grid(padding=(0, 2, 0, 0))
        grid.add_column(no_wrap=True)
        grid.add_column(overflow="fold")
        for header, cell in zip(headers[1:], row[1:], strict=True):
            grid.add_row(_INDENT + header, Text(cell))
        blocks += [Text(row[0], style="bold"), grid]
    return Group(*blocks)


def _table(
    headers: Sequence[str], rows: Sequence[Sequence[str]], title: str | None, right: Sequence[str]
) -> Table:
    table = Table(title=title, title_justify="left", **PLAIN)
    for header in headers:
        table.add_column(header, no_wrap=True, justify="right" if header in right else "left")
    for row in rows:
        table.add_row(*(Text(cell) for cell in row))  # Text: "[all]" is not markup
    return table


class UsageCommand(TyperCommand):
    """A command whose usage line names its arguments bare (``... [OPTIONS] FILE``) rather than
    in typer's braces; for commands that take arguments: ``@app.command(cls=UsageCommand)``."""

    def collect_usage_pieces(self, ctx: _click.Context) -> list[str]:
        pieces = [self.options_metavar] if self.options_metavar else []
        for param in self.get_params(ctx):
            if isinstance(param, TyperArgument):
                name = param.metavar or (param.name or "ARG").upper()
                pieces.append(name if param.required else f"[{name}]")
        return pieces
