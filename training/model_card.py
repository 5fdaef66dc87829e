"""The model card shipped beside every trained version: data, labels, metrics, licences."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from classifiers.artifacts.manifest import Manifest
from training import gate as gate_module
from training import labels, log_labels, logs
from training.evaluate import EvaluationReport, Metric
from training.gate import GateDecision

CARD_FILE = "MODEL_CARD.md"

# Thresholds the routing-core issue sets for the held-out set; shown beside the validation figures.
TARGETS: Mapping[str, float] = {
    "apgr[all]": 0.65,
    "spearman_math_level": 0.45,
    "auroc_easy_domains_vs_math_level4+": 0.98,
    "auroc_everyday_chat_vs_code+math_level5": 0.75,
    "spearman_rb11_fail_share": 0.30,
}

ATTRIBUTION = """\
- MMLU (Hendrycks et al., MIT) with per-model outcomes from lm-sys/RouteLLM (Apache-2.0). The
  estimator's TF-IDF vocabulary holds the word 1-2-grams found in at least two MMLU training
  prompts (with their weights); no prompt is stored whole.
- RouterBench outcomes (withmartian/routerbench, MIT) on WinoGrande (CC-BY, Allen Institute for
  AI), ARC-Challenge (CC-BY-SA-4.0, Allen Institute for AI) and MBPP (CC-BY-4.0, Google Research).
- MATH (Hendrycks et al., MIT), GSM8K (OpenAI, MIT), HumanEval (OpenAI, MIT), MAWPS (MIT).
- ARC-Easy and ARC-Challenge (Clark et al., Allen Institute for AI, CC-BY-SA-4.0).
- Natural Questions open (Google, CC-BY-SA-3.0).
- CLINC150 (Larson et al., CC-BY-3.0).
- self-instruct seed tasks (Wang et al., Apache-2.0), Vicuna bench (LMSYS, Apache-2.0),
  Anthropic HH helpful-base (MIT), OpenAssistant OASST1 (Apache-2.0).
"""


def write_model_card(folder: Path, manifest: Manifest, report: EvaluationReport) -> Path:
    path = folder / CARD_FILE
    path.write_text(render_model_card(manifest, report), encoding="utf-8")
    return path


def render_model_card(manifest: Manifest, report: EvaluationReport, notes: str = "") -> str:
    data = manifest.training_data
    sections = [
        f"# Difficulty classifier `{manifest.version}`",
        _overview(manifest),
        "## Training data",
        _data_section(data),
        _reproduce(manifest),
        "## Labels: from signals to one target",
        _label_section(),
        "## Validation metrics",
        _metrics_section(report),
        _cv_section(manifest.metrics.get("cross_validation")),
        "## Limitations",
        _limitations(),
        notes,
        "## Licences and attribution",
        ATTRIBUTION,
    ]
    return "\n\n".join(part.strip() for part in sections if part.strip()) + "\n"


def _reproduce(manifest: Manifest) -> str:
    folds = manifest.metrics.get("cross_validation", {}).get("folds")
    cv = f" --cv-folds {folds}" if folds else ""
    return (
        "Reproduce (the embeddings are cached under `var/embeddings/` after the first run):\n\n"
        f"    router train --data ../shared/data/train.jsonl --version {manifest.version}{cv}"
    )


def _overview(manifest: Manifest) -> str:
    params = manifest.metrics.get("estimator", {})
    return f"""\
**Score.** A number in [0, 1]: the expected gain from escalating the prompt, i.e. the
probability that a cheap non-thinking model gets it wrong *and* a stronger model or a bigger
thinking budget gets it right. Higher means more compute is expected to pay off. It is not raw
hardness: a question no model can answer scores low.

**Model.** `{params.get("class", "DifficultyEstimator")}` ({_params_text(params)}) on
`{manifest.encoder.name}` embeddings ({manifest.encoder.dimension} dimensions) plus
{len(manifest.feature_names)} text features ({", ".join(manifest.feature_names)}). A gate
(multinomial logistic regression) gives P(group | prompt) over chat / knowledge / math /
reasoning; each group has its own expert fitted on its rows (the chat expert on every row, so
that technical requests unlike any seed row are not scored like small talk); the score is the
gate-weighted mix of the experts' expected gains. The knowledge expert, fitted on observed
outcomes, averages three estimates of the net gain, each weighing the same: a logistic regression
on the embedding and text features (standardised over its own rows), the topic route, and a
TF-IDF word 1-2-gram logistic regression over the prompt's whole text (`lexical_c`; it reads what
MiniLM's 256-word-piece window and pooling lose, and it is why the artifact holds a vocabulary of
n-grams seen in at least two training prompts). Created {manifest.created}; sha256 of the
estimator `{manifest.artifact.sha256}`."""


def _params_text(params: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in params.items() if k != "class")


def _data_section(data: Mapping[str, Any]) -> str:
    by_source = data.get("rows_by_source", {})
    lines = [
        f"`{data.get('file')}` (sha256 `{data.get('sha256')}`), {data.get('rows')} prompts:"
        f" {data.get('train_rows')} for training, {data.get('validation_rows')} held out for"
        f" validation ({data.get('validation_rule')}). The data is not shipped.",
        "",
        "| source | rows |",
        "|---|---|",
        *(f"| {source} | {count} |" for source, count in by_source.items()),
    ]
    notes = data.get("notes") or []
    if notes:
        lines += ["", "Too few rows for parts of the estimator:", *(f"- {note}" for note in notes)]
    return "\n".join(lines)


def _label_section() -> str:
    doc = (labels.__doc__ or "").strip()
    level = ", ".join(f"level {k}: {v}" for k, v in labels.MATH_LEVEL_GAIN.items())
    priors = _table("source or domain", "prior gain", _priors())
    return f"{doc}\n\nMATH levels: {level}.\n\n{priors}"


def _priors() -> Iterable[tuple[str, str]]:
    for name, value in {**labels.DOMAIN_PRIOR, **labels.SOURCE_PRIOR}.items():
        yield name, f"{value:.2f}"
    for name, value in labels.VICUNA_CATEGORY_PRIOR.items():
        yield f"vicuna_bench/{name}", f"{value:.2f}"


def _metrics_section(report: EvaluationReport) -> str:
    header = "| metric | n | model | random | length | oracle | target |\n" + "|---" * 7 + "|"
    rows = [_metric_row(metric) for metric in report.metrics]
    pairs = "; ".join(
        f"{p.group}: n={p.n}, weak {p.weak:.3f}, strong {p.strong:.3f}" for p in report.pairs
    )
    return (
        "Measured on the validation split, side by side with baselines computed in the same run"
        f" (seed {report.seed}). Weak/strong accuracy: {pairs or 'n/a'}.\n\n"
        + header
        + "\n"
        + "\n".join(rows)
    )


def _cv_section(folds: Mapping[str, Any] | None) -> str:
    if not folds:
        return ""
    rows = [
        f"| {name} | {v['model_mean']:.3f} ± {v['model_sd']:.3f} | "
        f"{v.get('length_mean', float('nan')):.3f} | {TARGETS.get(name, '')} |"
        for name, v in folds["metrics"].items()
        if "model_mean" in v and not name.startswith("mean_score")
    ]
    return (
        f"### {folds['folds']}-fold cross-validation on the training share\n\n"
        "Steadier than one split (one split of ~1,300 MMLU rows moves APGR by about ±0.02).\n\n"
        "| metric | model (mean ± sd) | length (mean) | target |\n|---|---|---|---|\n"
        + "\n".join(rows)
    )


def _metric_row(metric: Metric) -> str:
    values = (metric.model, metric.random, metric.length, metric.oracle)
    target = TARGETS.get(metric.name)
    cells = " | ".join("n/a" if v is None else f"{v:.3f}" for v in values)
    return f"| {metric.name} | {metric.n} | {cells} | {'' if target is None else target} |"


def _limitations() -> str:
    return """\
- GSM8K has no per-prompt outcomes in the seed data, so its place on the scale is a prior and its
  internal order comes from the math expert (fitted on MATH levels and MAWPS) and the text
  features; APGR on GSM8K-style prompts cannot be measured on this data.
- Hard real-user prompts (Arena-hard style) are not in the seed data; the score reaches them only
  through their likeness to code, maths and reasoning prompts.
- The MATH level gains and the unlabelled sources' priors are estimates from published accuracy
  figures, not measurements; the logged outcomes that retraining adds replace them over time.
- English only; MiniLM reads the first 256 word pieces of a prompt."""


def _table(left: str, right: str, rows: Iterable[tuple[str, str]]) -> str:
    body = "\n".join(f"| {a} | {b} |" for a, b in rows)
    return f"| {left} | {right} |\n|---|---|\n{body}"


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
        ATTRIBUTION if seed else "",
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


def _cell(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def _retrain_limitations() -> str:
    return """\
- Logged outcomes are seen at one tier only; a success above the cheapest tier is a censored
  row whose cheap-tier outcome is the base model's own estimate, so without exploration the
  escalated traffic teaches little.
- Tier indices are read as the current policy's; a policy that changed its tiers during the
  export window mixes outcomes of different models under one index.
- The held-out slice is the newest traffic; a shift in traffic inside the window moves the
  gate's figures as much as a better model does."""
