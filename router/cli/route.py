"""``router route``, ``router score`` and ``router eval``: what the active classifier and the
policy make of one text, of a file of prompts, of labelled rows."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import partial
from itertools import islice
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from classifiers.files import atomic_text
from records import Decision
from router.cli.deps import (
    EXIT_OK,
    EXIT_ROWS_SKIPPED,
    SHOWN_SKIPS,
    OnError,
    PolicyOption,
    batch_settings_of,
    deps_of,
    input_file,
    loading,
    policy_of,
    progress_bar,
    settings_of,
)
from router.cli.output import err, exit_on_router_error, out
from router.decision.decider import BatchScorer, Decider, checked_score
from router.decision.policy import Policy
from router.decision.prompt import require_text
from router.errors import DataError, RowError
from training.datasets import count_rows, read_parsed

__all__ = ["eval_", "route", "score"]


def route(
    ctx: typer.Context,
    text: Annotated[
        str, typer.Argument(help="The prompt to route, scored as it is.", metavar="TEXT")
    ],
    as_json: Annotated[bool, typer.Option("--json", help="Print the decision as JSON.")] = False,
    policy_path: PolicyOption = None,
) -> None:
    """Show which tier, model, budget and strategy TEXT would get, and why.

    Exit codes: 0 routed; 2 bad input (empty text), policy or classifier unusable.
    """
    deps = deps_of(ctx)
    with exit_on_router_error():
        require_text(text)
        settings = settings_of(deps)
        policy = policy_of(settings, policy_path)
        with loading("the encoder and classifier"):
            scorer = deps.scorer(settings)
        decision = Decider(scorer, policy).decide_text(text)
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
        ("strategy", decision.strategy.label()),
        ("timeout", f"{decision.timeout_s:g} s"),
        ("classifier", decision.classifier_version),
        ("policy", decision.policy_version),
        ("decided in", f"{decision.decision_ms:.1f} ms"),
    ]
    rows += [("reason", reason) for reason in decision.reasons]
    for name, value in rows:
        table.add_row(name, value)
    return table


def score(
    ctx: typer.Context,
    input_path: Annotated[
        Path,
        input_file(
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
            metavar="FILE",
        ),
    ],
    on_error: Annotated[
        OnError, typer.Option("--on-error", help="What a malformed row does.")
    ] = OnError.stop,
    batch_size: Annotated[
        int,
        typer.Option("--batch-size", min=1, max=100_000, help="Rows per scorer call.", metavar="N"),
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
    deps = deps_of(ctx)
    with exit_on_router_error():
        _check_paths(input_path, output_path)
        total = count_rows(input_path)
        settings = batch_settings_of(deps)
        with loading("the encoder and classifier"):
            scorer = deps.scorer(settings)
        job = _ScoreJob(scorer, policy_of(settings, policy_path), on_error, batch_size)
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
    with atomic_text(output_path) as sink, progress_bar() as progress:
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


def _report(output_path: Path, total: int, skipped: int) -> None:
    out.print(f"scored {total - skipped} of {total} rows into {output_path}", soft_wrap=True)
    if skipped > SHOWN_SKIPS:
        err.print(Text(f"... and {skipped - SHOWN_SKIPS} more skipped rows", style="yellow"))
    if skipped:
        err.print(Text(f"skipped {skipped} malformed rows (exit code 1)", style="yellow"))


def eval_(
    ctx: typer.Context,
    data: Annotated[
        Path,
        input_file(
            "--data",
            "JSONL rows with the seed data's fields (id, source, domain, prompt, labels).",
        ),
    ],
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    report_dir: Annotated[
        Path | None,
        typer.Option(
            "--report",
            help="Folder for report.json and the PNG plots.",
            file_okay=False,
            metavar="DIR",
        ),
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
    from training.evaluate import evaluate
    from training.evaluate_report import render_table, write_report
    from training.proxies import render_tier_table, tiers_by_source

    deps = deps_of(ctx)
    skipped: list[RowError] = []
    with exit_on_router_error():
        rows = list(read_seed_rows(data, on_error=on_error.value, on_skip=skipped.append))
        if not rows:
            raise DataError(f"{data}: no rows to evaluate")
        settings = batch_settings_of(deps)
        policy = policy_of(settings, policy_path)
        with loading("the encoder and classifier"):
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
    with progress_bar() as progress:
        task = progress.add_task("scoring", total=len(texts))
        for start in range(0, len(texts), batch_size):
            parts.append(scorer.embed_and_score(texts[start : start + batch_size])[1])
            progress.update(task, completed=min(start + batch_size, len(texts)))
    return np.concatenate(parts)
