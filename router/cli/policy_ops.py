"""``router policy simulate`` and ``router policy tune``: what a policy would cost and deliver.

    router policy simulate CANDIDATE.yaml [--against CURRENT] (--logs EXPORT.jsonl |
        --data LABELLED.jsonl) [--rescore] [--json] [--plot curve.png]
    router policy tune --share fast=0.5,standard=0.3,reasoning=0.15,deep=0.05
        [--max-cost X] [--min-quality Q] --logs EXPORT.jsonl --out candidate.yaml

``--against`` defaults to the serving policy (``ROUTER_POLICY_PATH``); it is also taken as the
policy that wrote the log. The commands join ``router.cli.policy``'s ``policy_app`` (importing
this module registers them; ``router.cli.main`` mounts the group). Settings and the scorer
come from ``ctx.obj`` when the context carries them (``router.cli.deps.CliDeps``), as in tests.

Exit codes: 0 done; 1 (tune) no band edges meet the target; 2 bad input or options.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.box import SIMPLE_HEAD
from rich.table import Table

from router.cli.output import UsageCommand, exit_on_router_error, fail, out, settings_or_exit
from router.cli.policy import policy_app
from router.decision.decider import BatchScorer
from router.decision.policy import Policy
from router.decision.policy_file import load_policy
from router.ops.curve import curve_points, write_curve_png
from router.ops.estimators import Estimate
from router.ops.policy_file import with_bands_yaml
from router.ops.simulation import LABELS, Simulation, compare
from router.ops.traffic import Rescore, Traffic, read_export, read_labelled
from router.ops.tuning import parse_shares, tune
from router.service.model_store import load_scorer
from router.settings import Settings, get_settings

__all__ = ["policy_app"]

EXIT_TARGET_MISSED = 1
FORMATS = {"quality": "{:.3f}", "cost_per_1k": "{:.4g}", "reasoning_tokens_per_1k": "{:,.0f}"}


LogsOption = Annotated[
    Path | None,
    typer.Option(
        "--logs",
        help="An export (router logs export).",
        exists=True,
        dir_okay=False,
        metavar="FILE",
    ),
]
DataOption = Annotated[
    Path | None,
    typer.Option(
        "--data",
        help="A labelled JSONL file (seed format, with labels.correct).",
        exists=True,
        dir_okay=False,
        metavar="FILE",
    ),
]
AgainstOption = Annotated[
    Path | None,
    typer.Option(
        "--against",
        help="The current policy. [default: ROUTER_POLICY_PATH or the shipped policy]",
        exists=True,
        dir_okay=False,
        metavar="FILE",
    ),
]


def _settings(ctx: typer.Context) -> Settings:
    return settings_or_exit(getattr(ctx.obj, "settings", get_settings))


def _traffic(
    ctx: typer.Context, settings: Settings, policy: Policy, logs: Path | None,
    data: Path | None, rescore: bool,
) -> Traffic:  # fmt: skip
    if (logs is None) == (data is None):
        fail("give exactly one of --logs EXPORT.jsonl or --data LABELLED.jsonl")
    if logs is not None:
        return read_export(logs, rescore=_score_fn(ctx, settings) if rescore else None)
    assert data is not None
    return read_labelled(data, _score_fn(ctx, settings), policy)


def _score_fn(ctx: typer.Context, settings: Settings) -> Rescore:
    scorer: BatchScorer = getattr(ctx.obj, "scorer", load_scorer)(settings)

    def score(texts: Sequence[str]) -> Any:
        return scorer.embed_and_score(texts)[1]

    return score


@policy_app.command("simulate", cls=UsageCommand)
def simulate_command(
    ctx: typer.Context,
    candidate_path: Annotated[
        Path,
        typer.Argument(
            help="The candidate policy file.", exists=True, dir_okay=False, metavar="FILE"
        ),
    ],
    against: AgainstOption = None,
    logs: LogsOption = None,
    data: DataOption = None,
    rescore: Annotated[
        bool, typer.Option("--rescore", help="Score logged prompts with the current classifier.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
    plot: Annotated[
        Path | None,
        typer.Option(
            "--plot",
            help="Write the cost-quality curve as a PNG here.",
            dir_okay=False,
            metavar="FILE",
        ),
    ] = None,
) -> None:
    """Re-apply CANDIDATE and the current policy to logged or labelled traffic, side by side.

    Shares per tier, cost and reasoning tokens per 1,000 requests, latency percentiles and
    expected quality, estimated off-policy (doubly robust, with inverse propensity beside it),
    with 95% intervals, effective sample sizes and whether each is precise to within 5%.
    """
    with exit_on_router_error():
        settings = _settings(ctx)
        candidate = load_policy(candidate_path)
        current = load_policy(against or settings.policy_path)
        traffic = _traffic(ctx, settings, candidate, logs, data, rescore)
        result = compare(candidate, current, traffic)
        if plot is not None:
            marked = {"current": result.current, "candidate": result.candidate}
            points = curve_points(current, traffic)
            write_curve_png(plot, points, {k: v for k, v in marked.items() if v is not None})
    if as_json:
        typer.echo(json.dumps(result.to_dict(), indent=2))
        return
    out.print(_comparison_table(result))
    for name, fmt in FORMATS.items():
        detail = _detail(result.candidate.estimate(name), fmt)
        out.print(f"candidate {LABELS[name]}: {detail}", soft_wrap=True)
    for verdict in result.verdicts().values():
        out.print(verdict["says"], soft_wrap=True)
    for note in result.notes:
        out.print(f"note: {note}", soft_wrap=True)
    if plot is not None:
        out.print(f"wrote {plot}")


def _comparison_table(result: Simulation) -> Table:
    table = Table(
        title=f"{result.requests} requests ({result.source}), {result.with_outcome} with an"
        f" outcome, exploration {result.exploration_rate:.2g}",
        title_justify="left",
        box=SIMPLE_HEAD,
    )
    table.add_column("figure")
    current, candidate = result.current, result.candidate
    if current is not None:
        table.add_column(f"current {current.version}", justify="right")
    table.add_column(f"candidate {candidate.version}", justify="right")
    figures = [f for f in (current, candidate) if f is not None]
    for tier in candidate.shares:
        table.add_row(f"share {tier}", *(f"{f.shares.get(tier, 0.0):.1%}" for f in figures))
    for name, fmt in FORMATS.items():
        label = LABELS[name]
        table.add_row(label, *(_value(f.estimate(name), fmt) for f in figures))
    for name in ("latency_p50_ms", "latency_p95_ms"):
        label = name.removeprefix("latency_").replace("_ms", " latency (ms)")
        table.add_row(label, *(_ms(getattr(f, name)) for f in figures))
    return table


def _value(estimate: Estimate, fmt: str) -> str:
    if math.isnan(estimate.value):
        return "n/a"
    interval = (
        ""
        if math.isnan(estimate.low)
        else f" [{fmt.format(estimate.low)}, {fmt.format(estimate.high)}]"
    )
    return fmt.format(estimate.value) + interval


def _detail(estimate: Estimate, fmt: str) -> str:
    ips = "n/a" if math.isnan(estimate.ips) else fmt.format(estimate.ips)
    direct = "n/a" if math.isnan(estimate.direct) else fmt.format(estimate.direct)
    return (
        f"doubly robust {_value(estimate, fmt)}, inverse propensity {ips}, outcome model"
        f" {direct}; effective sample {estimate.effective_rows:,.0f} of {estimate.rows:,} rows,"
        f" {estimate.matched:,} served where it would send them, unsupported"
        f" {estimate.unsupported:.1%}"
    )


def _ms(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{value:.0f}"


@policy_app.command("tune")
def tune_command(
    ctx: typer.Context,
    out_path: Annotated[
        Path,
        typer.Option(
            "--out", help="The candidate policy file to write.", dir_okay=False, metavar="FILE"
        ),
    ],
    logs: LogsOption = None,
    data: DataOption = None,
    share: Annotated[
        str | None,
        typer.Option(
            "--share",
            help="Target share per tier: fast=0.5,standard=0.3,...",
            metavar="TIER=SHARE,...",
        ),
    ] = None,
    max_cost: Annotated[
        float | None,
        typer.Option(
            "--max-cost", min=0.0, help="Most cost per 1,000 requests (USD).", metavar="USD"
        ),
    ] = None,
    min_quality: Annotated[
        float | None,
        typer.Option(
            "--min-quality", min=0.0, max=1.0, help="Least expected quality.", metavar="Q"
        ),
    ] = None,
    against: AgainstOption = None,
    version: Annotated[
        str | None, typer.Option("--version", help="The new policy's version.", metavar="NAME")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the figures as JSON.")] = False,
) -> None:
    """Propose band edges for target shares, a cost ceiling or a quality floor; write them into
    a copy of the current policy with its simulated figures as a header."""
    if share is None and max_cost is None and min_quality is None:
        fail("give a target: --share, --max-cost and/or --min-quality")
    with exit_on_router_error():
        settings = _settings(ctx)
        source = against or settings.policy_path
        current = load_policy(source)
        traffic = _traffic(ctx, settings, current, logs, data, rescore=False)
        shares = None if share is None else parse_shares(share, current)
    with exit_on_router_error(EXIT_TARGET_MISSED):
        tuned = tune(
            current, traffic, shares=shares, max_cost_per_1k=max_cost,
            min_quality=min_quality, version=version,
        )  # fmt: skip
    figures = tuned.figures
    header = [
        f"Tuned by `router policy tune` for {tuned.target}",
        f"on {logs or data} ({traffic.requests} requests); simulated figures:",
        "shares " + ", ".join(f"{k}={v:.3f}" for k, v in figures.shares.items()),
        f"expected quality {_value(figures.quality, '{:.3f}')}",
        f"cost per 1k requests {_value(figures.cost_per_1k, '{:.4g}')} USD",
        f"reasoning tokens per 1k {_value(figures.reasoning_tokens_per_1k, '{:,.0f}')}",
    ]
    with exit_on_router_error():
        text = with_bands_yaml(source, tuned.policy, header)
    out_path.write_text(text, encoding="utf-8")
    if as_json:
        typer.echo(json.dumps(_tuned_json(out_path, tuned.target, figures.to_dict()), indent=2))
        return
    for line in header:
        out.print(line, soft_wrap=True)
    out.print(f"wrote {out_path}")


def _tuned_json(path: Path, target: str, figures: dict[str, Any]) -> dict[str, Any]:
    return {"path": str(path), "target": target, "figures": figures}
