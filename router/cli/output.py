"""What every ``router`` command shares: its consoles, and how an error ends a command.

An error is one line on stderr, ``error: <message>``, then exit code ``EXIT_ERROR`` (2) unless
the command says otherwise; settings that do not validate name each variable and its problem:

    with exit_on_router_error():               # a RouterError ends the command this way
        settings = settings_or_exit(get_settings)
        ...
    fail("the output directory does not exist")
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Final, NoReturn

import typer
from pydantic import ValidationError
from pydantic_core import ErrorDetails
from rich.console import Console
from rich.text import Text

from router.errors import RouterError
from router.settings import Settings

__all__ = ["EXIT_ERROR", "err", "exit_on_router_error", "fail", "out", "settings_or_exit"]

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
