"""Retrain from logged decisions, judge the candidate with the gate, publish it, maybe promote it.

    export.jsonl ──read_logs──> labelled rows ──split by time──> older: training │ newest: held out
    base version (CURRENT) ──> base scores, standardised X of the training rows
    fit_correction(the cheapest tier's rows: failed or not) ──> P(cheap tier fails | prompt)
    recovery rate (log's lower bound, anchored on the base) ──> candidate = base + correction
    seed data (optional) ──embed (cached)──> its held-out rows, for the gate's guard
    base and candidate on the held-out logs (and the seed validation) ──> GateDecision
    save_artifact(candidate, report, card) ──> models/<version>   (always: refused ones too)
    switch_current(version, expected=base) ──> CURRENT + HISTORY   (only if the gate passed)

The candidate is the base with a ``classifiers.correction.Correction`` fitted on the logged rows
added on top: it changes the score only where the logged traffic lies and keeps the base's
everywhere else, so a log of one kind of traffic (an app that only sends maths) improves that
kind and leaves the rest as it was. It keeps the base's lexical estimates
(``classifiers.lexical``): they read the prompt's text, which the log does not keep. On held-out
logs both are judged from the embedding and text features alone (``predict``), on the seed
validation rows with their texts (``predict_text``), the same way for both.

The split is by time because the gate asks about the traffic to come: the newest
``holdout_share`` of the rows with an outcome are held out, never trained on. Publishing is
atomic (``save_artifact`` stages the version and renames it into place) and so is the switch
(``classifiers.artifacts.registry.switch_current``, under a lock, only if CURRENT is still the
base the gate compared against), so an interrupted or concurrent retrain leaves either nothing
or a complete version, and CURRENT always names a complete one.

**Scale.** Only rows with feedback keep their embedding in memory (``read_logs``), predictions
run in blocks, only the rows to fit and the held-out slice outlive reading, and at most
``max_log_rows`` (300,000) training rows are fitted: beyond that, a uniform sample (fixed seed).
The fit's time and memory grow linearly with rows, its accuracy does not: on a synthetic export
of a million decisions, all with feedback (``bench/retrain.py``, 2 busy cores), fitting all
800,000 training rows took 79 s and 18.3 GB at peak for a held-out AUROC of 0.912; the
300,000-row sample took 36 s and 7.3 GB for 0.911 (measured when retraining refitted the whole
estimator, before the correction replaced that). The held-out slice is always scored whole.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from classifiers.artifacts.manifest import EncoderSpec, Manifest
from classifiers.artifacts.registry import RegistryError, switch_current
from classifiers.artifacts.store import save_artifact
from classifiers.artifacts.versions import read_current
from classifiers.difficulty import DifficultyEstimator
from classifiers.encoder import TextEncoder
from classifiers.errors import ArtifactNotFoundError
from training.evaluate_report import write_report
from training.gate import GateDecision, auroc_win_share, decide
from training.gate_metrics import EscalationCost, GateConfig, HeldOut, LogMetrics, log_metrics
from training.gate_report import write_gate_report
from training.log_labels import describe_groups
from training.logs import (
    MAX_PROPENSITY_WEIGHT,
    LogSummary,
)
from training.model_card_retrained import write_retrained_card
from training.retrain_base import BaseVersion, hyperparameters
from training.retrain_logs import (
    MAX_LOG_ROWS,
    MIN_LOG_ROWS,
    TrainingLogs,
    chunked,
    fit_candidate,
    overlap_notes,
    read_training_logs,
)
from training.retrain_seed import (
    LazyEncoder,
    Progress,
    SeedComparison,
    SeedSplit,
    load_seed,
    quiet,
    seed_comparison,
)

REPORT_DIR = "report"


@dataclass(frozen=True)
class TierLayout:
    """What retraining needs of the serving policy: how many tiers, where the first one ends.

    Built by the caller from the policy's bands (``TierLayout.from_bands``), so training never
    reads the policy itself.
    """

    tiers: int
    first_edge: float | None  # the score where the cheapest tier ends; None with a single tier

    @classmethod
    def from_bands(cls, bands: Sequence[tuple[float, float]]) -> TierLayout:
        """The layout of tiers with these score bands, cheapest first."""
        if not bands:
            raise ValueError("a tier layout needs at least one tier")
        return cls(tiers=len(bands), first_edge=bands[0][1] if len(bands) > 1 else None)

    @property
    def top_tier(self) -> int:
        return self.tiers - 1


@dataclass(frozen=True)
class RetrainResult:
    version: str
    version_dir: Path
    base_version: str
    manifest: Manifest
    gate: GateDecision
    promoted: bool
    promotion: str  # what happened to CURRENT, in a sentence
    current: str | None
    logs: LogSummary
    base_holdout: LogMetrics
    candidate_holdout: LogMetrics
    seed: SeedComparison | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "version_dir": str(self.version_dir),
            "base_version": self.base_version,
            "promoted": self.promoted,
            "promotion": self.promotion,
            "current": self.current,
            "gate": self.gate.to_dict(),
            "logs": self.logs.to_dict(),
            "holdout": {
                "base": self.base_holdout.to_dict(),
                "candidate": self.candidate_holdout.to_dict(),
            },
            "seed_validation": None
            if self.seed is None
            else {"base": self.seed.base.to_dict(), "candidate": self.seed.candidate.to_dict()},
        }


def retrain(
    logs_path: Path,
    models_dir: Path,
    *,
    seed_data: Path | None = None,
    base_version: str | None = None,
    version: str | None = None,
    holdout_share: float = 0.2,
    encoder: TextEncoder | None = None,
    cache_dir: Path | None = None,
    tiers: TierLayout | None = None,
    gate_config: GateConfig | None = None,
    min_log_rows: int = MIN_LOG_ROWS,
    max_log_rows: int | None = MAX_LOG_ROWS,
    promote: bool = True,
    progress: Progress | None = None,
) -> RetrainResult:
    """Fit a candidate on logged outcomes (and seed data), gate it, publish it; see the module.

    ``encoder`` embeds the seed data on a cache miss (default: the packaged encoder, loaded only
    then); ``tiers`` gives the top tier's index and the first band edge (default: tiers are read
    from the logs). ``promote=False`` publishes without touching CURRENT.
    """
    if not 0.0 < holdout_share < 1.0:
        raise ValueError(f"holdout_share must be in (0, 1), got {holdout_share}")
    step = progress or quiet
    config = gate_config or GateConfig()
    base = BaseVersion.load(models_dir, base_version)
    logs = read_training_logs(
        logs_path,
        models_dir,
        base.estimator,
        base.manifest.encoder,
        holdout_share,
        max_log_rows,
        step,
    )
    seed = None
    if seed_data is not None:
        encoder = encoder or LazyEncoder(base.manifest.encoder)
        seed = load_seed(seed_data, encoder, cache_dir=cache_dir, step=step)
    else:
        logs.notes.append(
            "no seed data: the candidate learned from logged outcomes alone, and no seed"
            " validation metrics guard its promotion"
        )
    step("fitting the candidate", 0, 1)
    candidate, fitted = fit_candidate(base.estimator, logs, min_log_rows, logs_path)
    step("fitting the candidate", 1, 1)
    version = version or default_version(logs.summary.sha256)
    step("evaluating", 0, 1)
    judged = _judge(base, candidate, version, logs, seed, tiers, config)
    step("evaluating", 1, 1)
    step("publishing", 0, 1)
    manifest = _publish(models_dir, version, candidate, base, logs, seed, fitted, judged)
    step("publishing", 1, 1)
    promoted, promotion = _promote(
        models_dir, version, base.manifest, judged.gate, base.manifest.encoder, promote
    )
    return RetrainResult(
        version=version,
        version_dir=models_dir / version,
        base_version=base.manifest.version,
        manifest=manifest,
        gate=judged.gate,
        promoted=promoted,
        promotion=promotion,
        current=_current(models_dir),
        logs=logs.summary,
        base_holdout=judged.base,
        candidate_holdout=judged.candidate,
        seed=judged.seed,
    )


@dataclass(frozen=True)
class _Judgement:
    gate: GateDecision
    held: HeldOut
    base_scores: npt.NDArray[np.float64]  # on the held-out slice
    candidate_scores: npt.NDArray[np.float64]
    base: LogMetrics
    candidate: LogMetrics
    seed: SeedComparison | None
    seed_scores: npt.NDArray[np.float64] | None  # the candidate's, on the seed validation rows


def _judge(
    base: BaseVersion,
    candidate: DifficultyEstimator,
    version: str,
    logs: TrainingLogs,
    seed: SeedSplit | None,
    tiers: TierLayout | None,
    config: GateConfig,
) -> _Judgement:
    held_logs = logs.holdout
    held = HeldOut.from_logs(held_logs)
    cost = EscalationCost.from_tiers(logs.summary.tiers)
    if cost.unit.startswith("escalations"):
        logs.notes.append("no cost data in the export: cost is counted in escalations")
    threshold = tiers.first_edge if tiers is not None else None
    base_held = logs.holdout_scores
    candidate_held = chunked(candidate.predict, held_logs.X)
    before, after = (
        log_metrics(held, scores, cost=cost, config=config, threshold=threshold)
        for scores in (base_held, candidate_held)
    )
    comparison, seed_scores = seed_comparison(seed, base.estimator, candidate)
    logs.notes.extend(overlap_notes(base.manifest, held_logs))
    gate = decide(
        base_version=base.manifest.version,
        candidate_version=version,
        base=before,
        candidate=after,
        cost_unit=cost.unit,
        win_share=auroc_win_share(held, base_held, candidate_held, resamples=config.resamples),
        base_seed=None if comparison is None else comparison.base,
        candidate_seed=None if comparison is None else comparison.candidate,
        config=config,
        notes=logs.notes,
    )
    return _Judgement(gate, held, base_held, candidate_held, before, after, comparison, seed_scores)


def _publish(
    models_dir: Path,
    version: str,
    candidate: DifficultyEstimator,
    base: BaseVersion,
    logs: TrainingLogs,
    seed: SeedSplit | None,
    fitted: npt.NDArray[np.intp],
    judged: _Judgement,
) -> Manifest:
    """The candidate, its gate report, plots and card, as one new version (atomic)."""
    comparison = judged.seed

    def attach(folder: Path, manifest: Manifest) -> None:
        report = folder / REPORT_DIR
        write_gate_report(
            judged.gate, judged.held, judged.base_scores, judged.candidate_scores, report
        )
        if seed is not None and comparison is not None and judged.seed_scores is not None:
            write_report(comparison.candidate, seed.val_rows, judged.seed_scores, report)
        write_retrained_card(
            folder, manifest, judged.gate, None if comparison is None else comparison.candidate
        )

    return save_artifact(
        models_dir,
        version,
        candidate,
        encoder_name=base.manifest.encoder.name,
        encoder_dimension=base.manifest.encoder.dimension,
        encoder_files_sha256=base.manifest.encoder.files_sha256,
        feature_names=base.manifest.feature_names,
        training_data=_training_summary(base.manifest, logs, fitted, seed, candidate),
        metrics={
            "estimator": {
                "class": type(candidate).__name__,
                **hyperparameters(base.manifest, candidate),
            },
            "holdout": judged.candidate.to_dict(),
            "base_holdout": judged.base.to_dict(),
            "gate": judged.gate.to_dict(),
            **({} if comparison is None else {"validation": comparison.candidate.to_dict()}),
        },
        attach=attach,
    )


def default_version(logs_sha: str) -> str:
    return f"logs-{datetime.now(UTC):%Y%m%d-%H%M%S}-{logs_sha[:8]}"


# --- pieces ----------------------------------------------------------------------------------


def _training_summary(
    base: Manifest,
    logs: TrainingLogs,
    fitted: npt.NDArray[np.intp],
    seed: SeedSplit | None,
    candidate: DifficultyEstimator,
) -> dict[str, Any]:
    held = len(logs.holdout)
    share = held / (logs.train_rows + held)
    return {
        "kind": "logs",
        "base_version": base.version,
        "logs": {
            **logs.summary.to_dict(),
            "train_rows": logs.train_rows,
            "fitted_rows": int(fitted.size),
            "holdout_rows": held,
            "split": f"by time: the newest {share:.0%} of rows with feedback held out",
            "trained_until": _iso(logs.train.time.max()),
            "holdout_from": _iso(logs.holdout.time.min()) if held else None,
            "rows_by_group": describe_groups(logs.train_groups[fitted]),
            "max_propensity_weight": MAX_PROPENSITY_WEIGHT,
            "recovery_rate": candidate.corrections()[-1].recovery,
        },
        "seed": None if seed is None else seed.summary,
    }


def _promote(
    models_dir: Path,
    version: str,
    base: Manifest,
    gate: GateDecision,
    spec: EncoderSpec,
    promote: bool,
) -> tuple[bool, str]:
    if not gate.passed:
        return False, "not promoted: the gate refused the candidate"
    if not promote:
        return False, "not promoted: passed the gate, but promotion was not asked for"
    try:
        switch_current(
            models_dir,
            version,
            action="retrain",
            reason=gate.reason,
            expected_current=base.version,
            encoder=spec,
        )
    except RegistryError as exc:
        return False, f"not promoted: {exc.problem}"
    return True, f"promoted: CURRENT is now {version} (was {base.version})"


def _current(models_dir: Path) -> str | None:
    try:
        return read_current(models_dir)
    except ArtifactNotFoundError:
        return None


def _iso(timestamp: float) -> str:
    return datetime.fromtimestamp(float(timestamp), UTC).isoformat(timespec="seconds")
