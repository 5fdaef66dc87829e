"""The model card of a version retrained from logged decisions (``training.retrain``): the
seed card's overview, labels and limitations (``training.model_card``), plus the logs it learned
from and the promotion gate's verdict."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from classifiers.artifacts.manifest import Manifest
from training import gate as gate_module
from training import log_labels, logs
from training.evaluate import EvaluationReport
from training.gate import GateDecision
from training.model_card import (
    ATTRIBUTION,
    CARD_FILE,
    _cell,
    _label_section,
    _limitations,
    _metrics_section,
    _overview,
    _table,
    _vocabulary_note,
)


def write_retrained_card(
    folder: Path, manifest: Manifest, gate: GateDecision, report: EvaluationReport | None
) -> Path:
    path = folder / CARD_FILE
    path.write_text(render_retrained_card(manifest, gate, report), encoding="utf-8")
    return path


def render_retrained_card(
    manifest: Manifest, gate: GateDecision, report: EvaluationReport | None
) -> str:
    """The card of a version retrained from logged decisions (``training.retrain``)."""
    data = manifest.training_data
    seed = data.get("seed")
    sections = [
        f"# Difficulty classifier `{manifest.version}` (retrained from logged decisions)",
        _overview(manifest),
        "## Training data",
        _logs_section(data),
        _seed_section(seed),
        "## Labels from logged outcomes",
        (logs.__doc__ or "").strip(),
        (log_labels.__doc__ or "").strip(),
        "## Labels of the seed rows" if seed else "",
        _label_section() if seed else "",
        "## Promotion gate",
        _gate_section(gate),
        "## Seed validation metrics" if report is not None else "",
        _metrics_section(report) if report is not None else "",
        "## Limitations",
        _limitations(),
        _retrain_limitations(),
        "## Licences and attribution" if seed else "",
        ATTRIBUTION + _vocabulary_note(manifest.metrics.get("estimator", {})) if seed else "",
    ]
    return "\n\n".join(part.strip() for part in sections if part.strip()) + "\n"


def _logs_section(data: Mapping[str, Any]) -> str:
    logged = data.get("logs", {})
    tiers = _table(
        "tier (index)",
        "rows, with outcome, mean cost (USD)",
        (
            (
                f"{t['name']} ({t['index']})",
                f"{t['rows']}, {t['labelled']}, {t['mean_cost_usd']:.5f}",
            )
            for t in logged.get("tiers", [])
        ),
    )
    return (
        f"Base version `{data.get('base_version')}`. Export `{logged.get('file')}` (sha256"
        f" `{logged.get('sha256')}`): {logged.get('rows')} logged decisions from"
        f" {logged.get('first_time')} to {logged.get('last_time')}; {logged.get('labelled')} with"
        f" an observed outcome, {logged.get('without_feedback')} without one,"
        f" {logged.get('not_ok')} failed calls. Split {logged.get('split')}:"
        f" {logged.get('train_rows')} for training (up to {logged.get('trained_until')},"
        f" {logged.get('fitted_rows')} fitted), {logged.get('holdout_rows')} held out (from"
        f" {logged.get('holdout_from')}). Logged rows by gate group:"
        f" {logged.get('rows_by_group')}. Prompts are not stored in the artifact.\n\n{tiers}"
    )


def _seed_section(seed: Mapping[str, Any] | None) -> str:
    if not seed:
        return "No seed data was added: the candidate learned from logged outcomes alone."
    return (
        f"Seed data `{seed.get('file')}` (sha256 `{seed.get('sha256')}`): {seed.get('rows')}"
        f" prompts, {seed.get('train_rows')} for training, {seed.get('validation_rows')} held out"
        f" ({seed.get('validation_rule')}). The data is not shipped."
    )


def _gate_section(gate: GateDecision) -> str:
    header = "| metric | n | base | candidate | delta | tolerance | verdict |\n" + "|---" * 7 + "|"
    rows = [
        f"| {r.metric} | {r.n} | {_cell(r.base)} | {_cell(r.candidate)} | {_cell(r.delta)} |"
        f" {_cell(r.tolerance)} | {r.verdict} |"
        for r in gate.rows
    ]
    notes = "".join(f"\n- {note}" for note in gate.notes)
    rule = (gate_module.__doc__ or "").strip()
    return (
        f"{rule}\n\nAgainst `{gate.base_version}`: **{gate.reason}**.\n\n"
        + header
        + "\n"
        + "\n".join(rows)
        + (f"\n\nNotes:{notes}" if notes else "")
    )


def _retrain_limitations() -> str:
    return """\
- Logged outcomes are seen at one tier only; a success above the cheapest tier is a censored
  row whose cheap-tier outcome is the base model's own estimate, so without exploration the
  escalated traffic teaches little.
- Tier indices are read as the current policy's; a policy that changed its tiers during the
  export window mixes outcomes of different models under one index.
- The held-out slice is the newest traffic; a shift in traffic inside the window moves the
  gate's figures as much as a better model does."""
