"""``router train`` (a classifier from seed data, or from logged outcomes) and ``router embed``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.text import Text

from router.cli.deps import (
    CliDeps,
    PolicyOption,
    batch_settings_of,
    deps_of,
    input_file,
    load_encoder,
    loading,
    policy_of,
    progress_bar,
)
from router.cli.models import train_from_logs
from router.cli.output import err, exit_on_router_error, fail, out

__all__ = ["embed", "train"]


def train(
    ctx: typer.Context,
    data: Annotated[
        Path | None,
        input_file(
            "--data",
            "Labelled JSONL: your own rows (docs/data.md) or the seed file; read, never copied.",
        ),
    ] = None,
    logs: Annotated[
        Path | None,
        input_file(
            "--logs",
            "Export of logged decisions (router logs export): retrain, gate, promote.",
        ),
    ] = None,
    seed_data: Annotated[
        Path | None,
        input_file("--seed-data", "With --logs: seed JSONL to train on beside the logs."),
    ] = None,
    base: Annotated[
        str | None,
        typer.Option("--base", help="With --logs: the version to improve on.", metavar="VERSION"),
    ] = None,
    version: Annotated[
        str | None, typer.Option("--version", help="Name of the new version.", metavar="NAME")
    ] = None,
    make_current: Annotated[
        bool,
        typer.Option("--make-current/--no-make-current", help="With --data: point CURRENT at it."),
    ] = True,
    cv_folds: Annotated[
        int,
        typer.Option(
            "--cv-folds", min=0, max=20, help="Also cross-validate (0: off).", metavar="K"
        ),
    ] = 0,
    compare: Annotated[
        list[str] | None,
        typer.Option("--compare", help="With --data: a version to measure beside it in the card."),
    ] = None,
    policy_path: PolicyOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="With --logs: the gate as JSON.")] = False,
) -> None:
    """Train a classifier: on seed data (--data), or from logged outcomes (--logs).

    --data fits on a hash split of the rows, evaluates on the rest and publishes a version;
    the file is your own labelled prompts (docs/data.md) or the seed data, told apart by its
    first row, and a malformed row stops it with its line and field.
    --logs fits a candidate on the export's outcomes (and --seed-data), compares it with the
    base on the newest logs and the seed validation rows, publishes it, and promotes it only if
    the promotion gate passes.

    Exit codes: 0 published (and, with --logs, promoted); 1 published but not promoted;
    2 bad input or an unusable encoder.
    """
    if (data is None) == (logs is None):
        fail("give exactly one of --data (seed training) or --logs (retraining from logs)")
    deps = deps_of(ctx)
    if logs is not None:
        with exit_on_router_error():
            settings = batch_settings_of(deps)
            code = train_from_logs(
                logs,
                seed_data,
                base,
                version,
                as_json,
                settings=settings,
                # by default the base version's own encoder, loaded only on a seed-cache miss
                encoder=None if deps.encoder is load_encoder else deps.encoder(settings),
            )
        raise typer.Exit(code)
    assert data is not None
    _train_seed(
        deps,
        data,
        version,
        make_current=make_current,
        cv_folds=cv_folds,
        compare=compare or [],
        policy_path=policy_path,
    )


def _train_seed(
    deps: CliDeps,
    data: Path,
    version: str | None,
    *,
    make_current: bool,
    cv_folds: int,
    compare: list[str],
    policy_path: Path | None,
) -> None:
    from classifiers.artifacts.manifest import EncoderSpec
    from classifiers.artifacts.registry import switch_current
    from training.evaluate_report import render_table
    from training.train import train_seed

    with exit_on_router_error():
        settings = batch_settings_of(deps)
        cheap_band = policy_of(settings, policy_path).tiers[0].band
        with loading("the encoder"):
            encoder = deps.encoder(settings)
        with progress_bar() as progress:
            task = progress.add_task("embedding", total=None)
            trained = train_seed(
                data,
                settings.models_dir,
                encoder,
                cache_dir=settings.data_dir / "embeddings",
                version=version,
                progress=lambda done, total: progress.update(task, completed=done, total=total),
                cv_folds=cv_folds,
                stage=lambda name: progress.update(task, description=name),
                cheap_threshold=cheap_band[1],
                compare=compare,
            )
        if make_current:
            switch_current(
                settings.models_dir,
                trained.manifest.version,
                action="train",
                reason=f"trained on {data.name}",
                encoder=EncoderSpec.of(encoder),
            )
    out.print(render_table(trained.report))
    for note in trained.notes:
        err.print(Text(f"warning: {note}", style="yellow"), soft_wrap=True)
    current = " (now CURRENT)" if make_current else ""
    out.print(f"published {trained.version_dir}{current}")


def embed(
    ctx: typer.Context,
    data: Annotated[
        Path,
        input_file("--data", "Seed JSONL whose prompts to embed."),
    ],
) -> None:
    """Embed a seed file's prompts once into the cache that `train` and the tests read.

    The cache lives in ROUTER_DATA_DIR/embeddings, named by the file's sha256; a cache that is
    already complete is kept. Exit codes: 0 cached; 2 bad data or an unusable encoder.
    """
    from training.datasets import file_sha256, read_seed_rows
    from training.train import embed as embed_texts
    from training.train import embedding_cache_file

    deps = deps_of(ctx)
    with exit_on_router_error():
        settings = batch_settings_of(deps)
        prompts = [row.prompt for row in read_seed_rows(data)]
        encoder = deps.encoder(settings)
        cache = embedding_cache_file(
            settings.data_dir / "embeddings", encoder.name, file_sha256(data)
        )
        with progress_bar() as progress:
            task = progress.add_task("embedding", total=len(prompts))
            embed_texts(
                encoder,
                prompts,
                cache_file=cache,
                progress=lambda done, total: progress.update(task, completed=done),
            )
    out.print(f"{len(prompts)} embeddings in {cache}")
