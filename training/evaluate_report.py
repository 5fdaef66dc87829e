"""An evaluation report's output: a table for the terminal, and ``report.json`` with the score by
domain and the quality-versus-strong-calls plots beside it."""

from __future__ import annotations

import io
import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy.typing as npt
from rich.table import Table
from rich.text import Text

from classifiers.files import write_bytes_atomic
from training import metrics
from training.datasets import SeedRow
from training.evaluate import (
    EvaluationReport,
    by_domain,
    checked_scores,
    defined,
    outcomes,
    pair_groups,
)
from training.label_tables import STRONG_MODEL, WEAK_MODEL
from training.measure import candidates as scorer_scores
from training.metrics import FloatArray
from training.proxies import reliability_figure

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = [
    "DOMAIN_PLOT",
    "QUALITY_PLOT",
    "RELIABILITY_PLOT",
    "REPORT_FILE",
    "figure_png",
    "render_table",
    "write_report",
]

REPORT_FILE = "report.json"
DOMAIN_PLOT = "score_by_domain.png"
QUALITY_PLOT = "quality_vs_strong_share.png"
RELIABILITY_PLOT = "reliability.png"


def render_table(report: EvaluationReport) -> Table:
    """metric | n | model | random | length | oracle; an arrow says which way is better."""
    table = Table(title=f"Evaluation on {report.n_rows} rows (seed {report.seed})")
    table.add_column("metric")
    for column in ("n", "model", "random", "length", "oracle"):
        table.add_column(column, justify="right")
    arrows = {True: " ↑", False: " ↓", None: ""}
    for m in report.metrics:
        values = (m.model, m.random, m.length, m.oracle)
        name = Text(m.name + arrows[m.higher_is_better])  # Text: "[all]" is not markup
        table.add_row(name, str(m.n), *map(_format, values))
    return table


def write_report(
    report: EvaluationReport, rows: Sequence[SeedRow], scores: npt.ArrayLike, out_dir: Path
) -> list[Path]:
    """Write ``report.json`` and the plots into ``out_dir``, each atomically; return the paths."""
    score = checked_scores(rows, scores)
    out_dir.mkdir(parents=True, exist_ok=True)
    text = json.dumps(report.to_dict(), indent=2, ensure_ascii=False, allow_nan=False) + "\n"
    written = [write_bytes_atomic(out_dir / REPORT_FILE, text.encode("utf-8"))]
    figures = {
        DOMAIN_PLOT: _domain_figure(rows, score),
        QUALITY_PLOT: _quality_figure(rows, score, report),
        RELIABILITY_PLOT: reliability_figure(rows, score),
    }
    for name, figure in figures.items():
        if figure is not None:
            written.append(write_bytes_atomic(out_dir / name, figure_png(figure)))
    return written


def _format(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def figure_png(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")  # a bare Figure renders with Agg: no pyplot, no GUI
    return buffer.getvalue()


def _domain_figure(rows: Sequence[SeedRow], scores: FloatArray) -> Figure | None:
    groups = by_domain(rows)
    if not groups:
        return None
    from matplotlib.figure import Figure  # heavy, and only the report needs it

    figure = Figure(figsize=(10, 5), layout="constrained")
    axes = figure.subplots()
    axes.boxplot(
        [scores[idx] for _, idx in groups],
        tick_labels=[f"{domain}\n(n={idx.size})" for domain, idx in groups],
        flierprops={"markersize": 2, "alpha": 0.4},
    )
    axes.set_ylabel("score")
    axes.set_ylim(-0.02, 1.02)
    axes.set_title("Score by domain")
    axes.tick_params(axis="x", labelrotation=45, labelsize=8)
    return figure


def _quality_figure(
    rows: Sequence[SeedRow], scores: FloatArray, report: EvaluationReport
) -> Figure | None:
    """Accuracy against the share of strong calls for the pair, on all rows with both outcomes."""
    idx = pair_groups(rows)[0][1]
    if idx.size == 0:
        return None
    from matplotlib.figure import Figure

    weak, strong = outcomes(rows, idx, WEAK_MODEL), outcomes(rows, idx, STRONG_MODEL)
    scorers = {k: v[idx] for k, v in scorer_scores(rows, scores, report.seed).items()}
    scorers["oracle"] = strong - weak
    figure = Figure(figsize=(7, 5), layout="constrained")
    axes = figure.subplots()
    for name, score in scorers.items():
        curve = metrics.quality_curve(score, weak, strong)
        apgr = _format(defined(metrics.apgr(score, weak, strong)))
        axes.plot(100 * curve.share, curve.accuracy, label=f"{name} (APGR {apgr})")
    axes.axhline(weak.mean(), color="grey", linestyle="--", label=f"weak: {report.weak_model}")
    axes.axhline(strong.mean(), color="red", linestyle="--", label=f"strong: {report.strong_model}")
    axes.set_xlabel("strong-model calls (%)")
    axes.set_ylabel("accuracy")
    axes.set_title(f"Quality vs share of strong calls ({idx.size} rows)")
    axes.legend(loc="lower right", fontsize=8)
    return figure
