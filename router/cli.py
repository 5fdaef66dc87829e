"""The ``router`` command line: route one text, score a file, check a policy.

Each command is a short function over the same pieces the service uses (``Policy``, ``Decider``,
the scorer). What a command needs from outside comes from ``CliDeps`` on the typer context, so
tests swap in a stand-in scorer or settings: ``CliRunner().invoke(app, args, obj=CliDeps(...))``.

Errors: a ``RouterError`` is printed as ``error: <message>`` on stderr and exits 2 (the
``policy validate`` command exits 1 for an invalid policy); anything else is a bug and keeps its
traceback.

To add a command, write a function taking ``ctx: typer.Context`` and decorate it with
``@app.command()`` (or ``@<group>_app.command()`` for a group like ``policy``).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from enum import StrEnum
from functools import partial
from itertools import islice
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.box import SIMPLE_HEAD
from rich.console import Group
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table
from rich.text import Text

from classifiers.encoder import TextEncoder
from classifiers.files import atomic_text
from router.cli_logs import logs_app
from router.cli_models import models_app, train_from_logs
from router.cli_output import err, exit_on_router_error, fail, out, settings_or_exit
from router.decider import BatchScorer, Decider, checked_score
from router.errors import DataError, RowError
from router.model_store import load_scorer
from router.policy import Policy, load_policy
from router.prompt import require_text
from router.records import Decision
from router.settings import Settings, get_settings
from training.datasets import count_rows, read_parsed

__all__ = ["CliDeps", "app"]

EXIT_OK = 0
EXIT_ROWS_SKIPPED = 1
EXIT_INVALID_POLICY = 1
SHOWN_SKIPS = 10


def _load_encoder(settings: Settings) -> TextEncoder:
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
    encoder: Callable[[Settings], TextEncoder] = _load_encoder


class OnError(StrEnum):
    stop = "stop"
    skip = "skip"


app = typer.Typer(
    name="router",
    help="Route LLM requests to the cheapest model and thinking budget that will answer well.",
    no_args_is_help=True,
    rich_markup_mode="markdown",
    pretty_exceptions_show_locals=False,  # locals can hold provider keys
)
policy_app = typer.Typer(
    help="Check policy files.", no_args_is_help=True, rich_markup_mode="markdown"
)
app.add_typer(policy_app, name="policy")
app.add_typer(logs_app, name="logs")
app.add_typer(models_app, name="models")
# The lead adds `serve`, `eval` and `train` here, as commands of `app` like `route` below.


# --- shared helpers ------------------------------------------------------------------------


def _input_file(flag: str, help: str) -> Any:
    """The typer option for an existing, readable file."""
    return typer.Option(flag, help=help, exists=True, dir_okay=False, readable=True)


def _deps(ctx: typer.Context) -> CliDeps:
    return ctx.obj if isinstance(ctx.obj, CliDeps) else CliDeps()


def _settings(deps: CliDeps) -> Settings:
    return settings_or_exit(deps.settings)


def _policy(settings: Settings, path: Path | None) -> Policy:
    return load_policy(settings.policy_path if path is None else path)


PolicyOption = Annotated[
    Path | None,
    typer.Option(
        "--policy",
        help="Policy YAML file. [default: ROUTER_POLICY_PATH or the shipped policy]",
        dir_okay=False,
    ),
]


# --- route ---------------------------------------------------------------------------------


@app.command()
def route(
    ctx: typer.Context,
    text: Annotated[str, typer.Argument(help="The prompt to route, scored as it is.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the decision as JSON.")] = False,
    policy_path: PolicyOption = None,
) -> None:
    """Show which tier, model, budget and strategy TEXT would get, and why.

    Exit codes: 0 routed; 2 bad input (empty text), policy or classifier unusable.
    """
    deps = _deps(ctx)
    with exit_on_router_error():
        require_text(text)
        settings = _settings(deps)
        policy = _policy(settings, policy_path)
        decision = Decider(deps.scorer(settings), policy).decide_text(text)
    if as_json:
        typer.echo(decision.model_dump_json(indent=2))
    else:
        out.print(_decision_table(decision, policy))


def _decision_table(decision: Decision, policy: Policy) -> Table:
    tier = policy.tier(decision.tier)
    table = Table(show_header=False, box=None, padding=(0, 2, 0, 0))
    table.add_column(style="bold")
    table.add_column(overflow="fold")
    rows = [
        ("score", f"{decision.score:.3f}"),
        ("tier", f"{decision.tier}  {policy.band_text(tier)}"),
        ("model", decision.model),
        ("fallbacks", ", ".join(decision.fallbacks) or "-"),
        ("budget", f"{decision.budget.label()}  (effort/budget_tokens/max_tokens)"),
        ("strategy", f"{decision.strategy.samples} x {decision.strategy.select}"),
        ("timeout", f"{decision.timeout_s:g} s"),
        ("classifier", decision.classifier_version),
        ("policy", decision.policy_version),
        ("decided in", f"{decision.decision_ms:.1f} ms"),
    ]
    rows += [("reason", reason) for reason in decision.reasons]
    for name, value in rows:
        table.add_row(name, value)
    return table


# --- score ---------------------------------------------------------------------------------


@app.command()
def score(
    ctx: typer.Context,
    input_path: Annotated[
        Path,
        _input_file(
            "--input",
            "JSONL file: one object per line with 'prompt' (text) and an optional 'id'.",
        ),
    ],
    output_path: Annotated[
        Path,
        typer.Option(
            "--output",
            help="JSONL file to write, in place only once every row is done.",
            dir_okay=False,
        ),
    ],
    on_error: Annotated[
        OnError, typer.Option("--on-error", help="What a malformed row does.")
    ] = OnError.stop,
    batch_size: Annotated[
        int, typer.Option("--batch-size", min=1, max=100_000, help="Rows per scorer call.")
    ] = 256,
    policy_path: PolicyOption = None,
) -> None:
    """Score every prompt of a JSONL file and name the tier and model it would get.

    Writes one line per row: {"id", "score", "tier", "model"}; a row without an id gets its
    line number. Blank lines are ignored.

    Exit codes: 0 every row scored; 1 output written, but malformed rows were skipped
    (--on-error skip); 2 nothing written: bad options, a malformed row (--on-error stop), a file
    that is not UTF-8, or an unusable policy or classifier.
    """
    deps = _deps(ctx)
    with exit_on_router_error():
        _check_paths(input_path, output_path)
        total = count_rows(input_path)
        settings = _settings(deps)
        job = _ScoreJob(deps.scorer(settings), _policy(settings, policy_path), on_error, batch_size)
        skipped = _score_file(input_path, output_path, job, total)
    _report(output_path, total, skipped)
    raise typer.Exit(EXIT_ROWS_SKIPPED if skipped else EXIT_OK)


@dataclass(frozen=True, slots=True)
class _ScoreJob:
    scorer: BatchScorer
    policy: Policy
    on_error: OnError
    batch_size: int


@dataclass(frozen=True, slots=True)
class _Row:
    line: int  # line number in the file
    id: object
    prompt: str


def _check_paths(input_path: Path, output_path: Path) -> None:
    if output_path.resolve() == input_path.resolve():
        raise DataError(f"{output_path}: the output would replace the input; choose another file")
    if not output_path.parent.is_dir():
        raise DataError(f"{output_path.parent}: the output directory does not exist")


def _score_file(input_path: Path, output_path: Path, job: _ScoreJob, total: int) -> int:
    """Score ``input_path`` into ``output_path``; the number of rows skipped."""
    skipped: list[RowError] = []
    rows = _rows(input_path, job.on_error, skipped)
    with atomic_text(output_path) as sink, _progress() as progress:
        task = progress.add_task("scoring", total=total)
        scored = 0
        for batch in _batches(rows, job.batch_size):
            sink.writelines(_scored_lines(batch, job))
            scored += len(batch)
            progress.update(task, completed=scored + len(skipped))
        progress.update(task, completed=total)
    return len(skipped)


def _rows(path: Path, on_error: OnError, skipped: list[RowError]) -> Iterator[_Row]:
    def skip(error: RowError) -> None:
        _note_skip(skipped, error)

    return read_parsed(path, partial(_score_row, path), on_error=on_error.value, on_skip=skip)


def _score_row(path: Path, number: int, data: dict[str, Any]) -> _Row:
    prompt, row_id = data.get("prompt"), data.get("id", number)
    if not isinstance(prompt, str):
        problem = "missing field 'prompt'" if prompt is None else "field 'prompt' is not text"
        raise RowError(path, number, problem)
    if not prompt.strip():
        raise RowError(path, number, "field 'prompt' is empty")
    if isinstance(row_id, bool) or not isinstance(row_id, str | int):
        raise RowError(path, number, "field 'id' must be a string or an integer")
    return _Row(number, row_id, prompt)


def _note_skip(skipped: list[RowError], error: RowError) -> None:
    skipped.append(error)
    if len(skipped) <= SHOWN_SKIPS:
        err.print(Text(f"skipped {error.message}", style="yellow"), soft_wrap=True)


def _batches(rows: Iterator[_Row], size: int) -> Iterator[list[_Row]]:
    while batch := list(islice(rows, size)):
        yield batch


def _scored_lines(batch: Sequence[_Row], job: _ScoreJob) -> list[str]:
    _, scores = job.scorer.embed_and_score([row.prompt for row in batch])
    lines = []
    for row, value in zip(batch, scores, strict=True):
        tier = job.policy.choose(checked_score(value, job.scorer.version))
        record = {"id": row.id, "score": round(float(value), 6), "tier": tier.name}
        lines.append(json.dumps({**record, "model": tier.model}, ensure_ascii=False) + "\n")
    return lines


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=err,
        transient=True,
        disable=not err.is_terminal,
    )


def _report(output_path: Path, total: int, skipped: int) -> None:
    out.print(f"scored {total - skipped} of {total} rows into {output_path}", soft_wrap=True)
    if skipped > SHOWN_SKIPS:
        err.print(Text(f"... and {skipped - SHOWN_SKIPS} more skipped rows", style="yellow"))
    if skipped:
        err.print(Text(f"skipped {skipped} malformed rows (exit code 1)", style="yellow"))


# --- policy --------------------------------------------------------------------------------


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


# --- eval ----------------------------------------------------------------------------------


@app.command("eval")
def eval_(
    ctx: typer.Context,
    data: Annotated[
        Path,
        _input_file(
            "--data",
            "JSONL rows with the seed data's fields (id, source, domain, prompt, labels).",
        ),
    ],
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    report_dir: Annotated[
        Path | None,
        typer.Option("--report", help="Folder for report.json and the PNG plots.", file_okay=False),
    ] = None,
    on_error: Annotated[
        OnError, typer.Option("--on-error", help="What a malformed row does.")
    ] = OnError.stop,
    policy_path: PolicyOption = None,
) -> None:
    """Score labelled rows with the active classifier and report every metric beside baselines,
    and, per source, the share of rows each tier of the policy takes.

    Exit codes: 0 evaluated; 1 evaluated, but malformed rows were skipped; 2 nothing evaluated.
    """
    from dataclasses import asdict

    from training.datasets import read_seed_rows
    from training.evaluate import evaluate, render_table, write_report
    from training.proxies import render_tier_table, tiers_by_source

    deps = _deps(ctx)
    skipped: list[RowError] = []
    with exit_on_router_error():
        rows = list(read_seed_rows(data, on_error=on_error.value, on_skip=skipped.append))
        if not rows:
            raise DataError(f"{data}: no rows to evaluate")
        settings = _settings(deps)
        policy = _policy(settings, policy_path)
        scorer = deps.scorer(settings)
        scores = _score_texts(scorer, [row.prompt for row in rows])
        report = evaluate(rows, scores, cheap_threshold=policy.tiers[0].band[1])
        tiers = tiers_by_source(rows, scores, [(t.name, t.band[0]) for t in policy.tiers])
        if report_dir is not None:
            write_report(report, rows, scores, report_dir)
    for problem in skipped[:SHOWN_SKIPS]:
        err.print(f"skipped {problem.message}")
    if as_json:
        found = {**report.to_dict(), "tiers_by_source": [asdict(t) for t in tiers]}
        typer.echo(json.dumps(found, indent=2))
    else:
        out.print(render_table(report))
        out.print(render_tier_table(tiers))
    raise typer.Exit(EXIT_ROWS_SKIPPED if skipped else EXIT_OK)


def _score_texts(scorer: BatchScorer, texts: Sequence[str], batch_size: int = 256) -> Any:
    import numpy as np

    parts = []
    with _progress() as progress:
        task = progress.add_task("scoring", total=len(texts))
        for start in range(0, len(texts), batch_size):
            parts.append(scorer.embed_and_score(texts[start : start + batch_size])[1])
            progress.update(task, completed=min(start + batch_size, len(texts)))
    return np.concatenate(parts)


# --- train ---------------------------------------------------------------------------------


@app.command()
def train(
    ctx: typer.Context,
    data: Annotated[
        Path | None,
        _input_file(
            "--data",
            "Seed JSONL (e.g. ../shared/data/train.jsonl); read, never copied.",
        ),
    ] = None,
    logs: Annotated[
        Path | None,
        _input_file(
            "--logs",
            "Export of logged decisions (router logs export): retrain, gate, promote.",
        ),
    ] = None,
    seed_data: Annotated[
        Path | None,
        _input_file("--seed-data", "With --logs: seed JSONL to train on beside the logs."),
    ] = None,
    base: Annotated[
        str | None, typer.Option("--base", help="With --logs: the version to improve on.")
    ] = None,
    version: Annotated[
        str | None, typer.Option("--version", help="Name of the new version.")
    ] = None,
    make_current: Annotated[
        bool,
        typer.Option("--make-current/--no-make-current", help="With --data: point CURRENT at it."),
    ] = True,
    cv_folds: Annotated[
        int, typer.Option("--cv-folds", min=0, max=20, help="Also cross-validate (0: off).")
    ] = 0,
    compare: Annotated[
        list[str] | None,
        typer.Option("--compare", help="With --data: a version to measure beside it in the card."),
    ] = None,
    policy_path: PolicyOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="With --logs: the gate as JSON.")] = False,
) -> None:
    """Train a classifier: on seed data (--data), or from logged outcomes (--logs).

    --data fits on a hash split of the rows, evaluates on the rest and publishes a version.
    --logs fits a candidate on the export's outcomes (and --seed-data), compares it with the
    base on the newest logs and the seed validation rows, publishes it, and promotes it only if
    the promotion gate passes.

    Exit codes: 0 published (and, with --logs, promoted); 1 published but not promoted;
    2 bad input or an unusable encoder.
    """
    if (data is None) == (logs is None):
        fail("give exactly one of --data (seed training) or --logs (retraining from logs)")
    deps = _deps(ctx)
    if logs is not None:
        with exit_on_router_error():
            settings = _settings(deps)
            code = train_from_logs(
                logs,
                seed_data,
                base,
                version,
                as_json,
                settings=settings,
                encoder=deps.encoder(settings),
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
    from classifiers.artifacts import EncoderSpec
    from classifiers.registry import switch_current
    from training.evaluate import render_table
    from training.train import train_seed

    with exit_on_router_error():
        settings = _settings(deps)
        cheap_band = _policy(settings, policy_path).tiers[0].band
        encoder = deps.encoder(settings)
        with _progress() as progress:
            task = progress.add_task("embedding", total=None)
            trained = train_seed(
                data,
                settings.models_dir,
                encoder,
                cache_dir=settings.data_dir / "embeddings",
                version=version,
                progress=lambda done, total: progress.update(task, completed=done, total=total),
                cv_folds=cv_folds,
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
    current = " (now CURRENT)" if make_current else ""
    out.print(f"published {trained.version_dir}{current}")


@app.command()
def embed(
    ctx: typer.Context,
    data: Annotated[
        Path,
        _input_file("--data", "Seed JSONL whose prompts to embed."),
    ],
) -> None:
    """Embed a seed file's prompts once into the cache that `train` and the tests read.

    The cache lives in ROUTER_DATA_DIR/embeddings, named by the file's sha256; a cache that is
    already complete is kept. Exit codes: 0 cached; 2 bad data or an unusable encoder.
    """
    from training.datasets import file_sha256, read_seed_rows
    from training.train import embed as embed_texts
    from training.train import embedding_cache_file

    deps = _deps(ctx)
    with exit_on_router_error():
        settings = _settings(deps)
        prompts = [row.prompt for row in read_seed_rows(data)]
        encoder = deps.encoder(settings)
        cache = embedding_cache_file(
            settings.data_dir / "embeddings", encoder.name, file_sha256(data)
        )
        with _progress() as progress:
            task = progress.add_task("embedding", total=len(prompts))
            embed_texts(
                encoder,
                prompts,
                cache_file=cache,
                progress=lambda done, total: progress.update(task, completed=done),
            )
    out.print(f"{len(prompts)} embeddings in {cache}")


# --- serve ---------------------------------------------------------------------------------


@app.command()
def serve(
    ctx: typer.Context,
    host: Annotated[
        str | None,
        typer.Option("--host", help="Address to listen on. [default: ROUTER_HOST or 127.0.0.1]"),
    ] = None,
    port: Annotated[
        int | None,
        typer.Option(
            "--port", min=1, max=65535, help="Port to listen on. [default: ROUTER_PORT or 8080]"
        ),
    ] = None,
    policy_path: PolicyOption = None,
) -> None:
    """Serve the OpenAI-compatible API: /v1/chat/completions, /v1/route, /v1/models, /readyz.

    Uses the classifier named in models/CURRENT (or ROUTER_MODEL_VERSION) and the shipped policy
    unless --policy or ROUTER_POLICY_PATH says otherwise. Provider keys come from the variables
    the policy names in api_key_env.

    Exit codes: 0 stopped; 2 unusable settings, policy or classifier version.
    """
    import logging

    import uvicorn

    from router.app import create_app

    deps = _deps(ctx)
    with exit_on_router_error():
        settings = _settings(deps)
        if policy_path is not None:
            settings = settings.model_copy(update={"policy_path": policy_path})
        _check_servable(settings)
    logging.basicConfig(
        level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    uvicorn.run(
        create_app(settings),
        host=host or settings.host,
        port=port or settings.port,
        log_level=settings.log_level.lower(),
        timeout_keep_alive=settings.keep_alive_s,
        timeout_graceful_shutdown=10,
    )


def _check_servable(settings: Settings) -> None:
    """Fail before listening if the policy or the classifier version cannot be found."""
    from classifiers.artifacts import resolve_version

    load_policy(settings.policy_path)
    resolve_version(settings.models_dir, settings.model_version)
