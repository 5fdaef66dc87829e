"""The promotion gate's output: a table for the terminal, and ``gate.json`` with the reliability
and ROC plots of both models on the held-out cheap-tier rows."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt
from rich.table import Table
from rich.text import Text

from classifiers.files import write_bytes_atomic
from training import metrics
from training.evaluate_report import figure_png

if TYPE_CHECKING:
    from matplotlib.figure import Figure

from training.gate import GateDecision, format_value
from training.gate_metrics import FloatArray, GateConfig, HeldOut

GATE_FILE = "gate.json"
RELIABILITY_PLOT = "gate_reliability.png"
ROC_PLOT = "gate_roc.png"


def render_gate_table(decision: GateDecision) -> Table:
    """metric | n | base | candidate | delta | tolerance | verdict, then the reason below."""
    table = Table(
        title=f"Promotion gate: {decision.candidate_version} vs {decision.base_version}",
        caption=decision.reason,
        caption_justify="left",
    )
    table.add_column("metric")
    for column in ("n", "base", "candidate", "delta", "tolerance"):
        table.add_column(column, justify="right")
    table.add_column("verdict")
    arrows = {True: " ↑", False: " ↓", None: ""}
    styles = {"better": "green", "worse": "red", "not better": "red", "not reliably better": "red"}
    for row in decision.rows:
        name = Text(row.metric + arrows[row.higher_is_better])  # Text: brackets are not markup
        verdict = Text(row.verdict, style=styles.get(row.verdict, ""))
        table.add_row(
            name,
            str(row.n),
            format_value(row.base),
            format_value(row.candidate),
            format_value(row.delta, signed=True),
            format_value(row.tolerance),
            verdict,
        )
    return table


def write_gate_report(
    decision: GateDecision,
    held: HeldOut,
    base_scores: npt.ArrayLike,
    candidate_scores: npt.ArrayLike,
    out_dir: Path,
    *,
    config: GateConfig = GateConfig(),
) -> list[Path]:
    """``gate.json`` and, when the held-out slice allows, the reliability and ROC plots."""
    import json

    out_dir.mkdir(parents=True, exist_ok=True)
    text = json.dumps(decision.to_dict(), indent=2, ensure_ascii=False, allow_nan=False) + "\n"
    written = [write_bytes_atomic(out_dir / GATE_FILE, text.encode("utf-8"))]
    scores = {
        decision.base_version: np.asarray(base_scores, dtype=np.float64)[held.index],
        decision.candidate_version: np.asarray(candidate_scores, dtype=np.float64)[held.index],
    }
    if held.n and 0 < held.failures < held.n:
        written.append(
            write_bytes_atomic(
                out_dir / RELIABILITY_PLOT, figure_png(_reliability(held, scores, config.bins))
            )
        )
        written.append(write_bytes_atomic(out_dir / ROC_PLOT, figure_png(_roc(held, scores))))
    return written


def _reliability(held: HeldOut, scores: Mapping[str, FloatArray], bins: int) -> Figure:
    from matplotlib.figure import Figure

    figure = Figure(figsize=(6, 5), layout="constrained")
    axes = figure.subplots()
    axes.plot([0, 1], [0, 1], color="grey", linestyle="--", label="perfect calibration")
    for name, score in scores.items():
        cut = metrics.calibration_bins(held.failed, score, weights=held.weights, bins=bins)
        filled = cut.weight > 0
        ece = metrics.expected_calibration_error(
            held.failed, score, weights=held.weights, bins=bins
        )
        axes.plot(
            cut.mean_score[filled], cut.rate[filled], marker="o", label=f"{name} (ECE {ece:.3f})"
        )
    axes.set_xlabel("mean score in bin")
    axes.set_ylabel("observed cheap-tier failure rate")
    axes.set_xlim(0, 1)
    axes.set_ylim(0, 1)
    axes.set_title(f"Reliability on held-out cheap-tier traffic (n={held.n})")
    axes.legend(loc="upper left", fontsize=8)
    return figure


def _roc(held: HeldOut, scores: Mapping[str, FloatArray]) -> Figure:
    from matplotlib.figure import Figure
    from sklearn.metrics import roc_curve

    figure = Figure(figsize=(6, 5), layout="constrained")
    axes = figure.subplots()
    axes.plot([0, 1], [0, 1], color="grey", linestyle="--", label="random")
    for name, score in scores.items():
        fpr, tpr, _ = roc_curve(held.failed, score, sample_weight=held.weights)
        auroc = metrics.auroc(held.failed, score, weights=held.weights)
        axes.plot(fpr, tpr, label=f"{name} (AUROC {auroc:.3f})")
    axes.set_xlabel("false positive rate (cheap tier was enough)")
    axes.set_ylabel("true positive rate (cheap tier failed)")
    axes.set_title(f"ROC on held-out cheap-tier traffic (n={held.n})")
    axes.legend(loc="lower right", fontsize=8)
    return figure
