"""What the ``router`` commands take from outside, and the options and bars they share.

``CliDeps`` rides on the typer context, so tests swap in a stand-in scorer, encoder or settings:
``CliRunner().invoke(app, args, obj=CliDeps(...))``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from classifiers.encoder import TextEncoder
from router.cli.output import err, settings_or_exit
from router.decision.decider import BatchScorer
from router.decision.policy import Policy
from router.decision.policy_file import load_policy
from router.service.model_store import load_scorer
from router.settings import Settings, get_settings

__all__ = [
    "EXIT_OK",
    "EXIT_ROWS_SKIPPED",
    "SHOWN_SKIPS",
    "CliDeps",
    "OnError",
    "PolicyOption",
    "deps_of",
    "input_file",
    "loading",
    "policy_of",
    "progress_bar",
    "settings_of",
]

EXIT_OK = 0
EXIT_ROWS_SKIPPED = 1
SHOWN_SKIPS = 10


def load_encoder(settings: Settings) -> TextEncoder:
    """The packaged encoder, uncached: training embeds every prompt once."""
    from classifiers.encoder import Encoder

    return Encoder.load(
        batch_size=settings.encoder_batch_size,
        cache_size=0,
        torch_threads=settings.encoder_threads,
    )


@dataclass(frozen=True)
class CliDeps:
    """What commands take from outside; tests pass their own as the typer context object."""

    settings: Callable[[], Settings] = get_settings
    scorer: Callable[[Settings], BatchScorer] = load_scorer
    encoder: Callable[[Settings], TextEncoder] = load_encoder


class OnError(StrEnum):
    stop = "stop"
    skip = "skip"


def input_file(flag: str, help: str) -> Any:
    """The typer option for an existing, readable file."""
    return typer.Option(flag, help=help, exists=True, dir_okay=False, readable=True, metavar="FILE")


def deps_of(ctx: typer.Context) -> CliDeps:
    return ctx.obj if isinstance(ctx.obj, CliDeps) else CliDeps()


def settings_of(deps: CliDeps) -> Settings:
    return settings_or_exit(deps.settings)


def policy_of(settings: Settings, path: Path | None) -> Policy:
    return load_policy(settings.policy_path if path is None else path)


PolicyOption = Annotated[
    Path | None,
    typer.Option(
        "--policy",
        help="Policy YAML file. [default: ROUTER_POLICY_PATH or the shipped policy]",
        dir_okay=False,
        metavar="FILE",
    ),
]


@contextmanager
def loading(what: str) -> Iterator[None]:
    """A spinner on stderr naming what is loading (the encoder takes seconds), on a terminal."""
    if not err.is_terminal:
        yield
        return
    with err.status(f"loading {what}..."):
        yield


def progress_bar() -> Progress:
    """A progress bar on stderr, shown only on a terminal."""
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=err,
        transient=True,
        disable=not err.is_terminal,
    )
