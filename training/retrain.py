"""Retrain from logged decisions, judge the candidate with the gate, publish it, maybe promote it.

    export.jsonl ──read_logs──> labelled rows ──split by time──> older: training │ newest: held out
    base version (CURRENT) ──> base scores + gate groups ──log_targets──> (X, y, w) from logs
    seed data (optional) ──embed (cached)──> seed (X, y) + its validation split
    fit DifficultyEstimator(base's hyperparameters) on seed + logs ──> candidate
    base and candidate on the held-out logs (and the seed validation) ──> GateDecision
    save_artifact(candidate, report, card) ──> models/<version>   (always: refused ones too)
    switch_current(version, expected=base) ──> CURRENT + HISTORY   (only if the gate passed)

The split is by time because the gate asks about the traffic to come: the newest
``holdout_share`` of the rows with an outcome are held out, never trained on. Publishing is
atomic (``save_artifact`` stages the version and renames it into place) and so is the switch
(``classifiers.registry.switch_current``, under a lock, only if CURRENT is still the base the gate
compared against), so an interrupted or concurrent retrain leaves either nothing or a complete
version, and CURRENT always names a complete one.

**Scale.** Only rows with feedback are kept in memory (``read_logs``), and at most
``max_log_rows`` of the training slice are fitted: beyond that a uniform sample (seeded) is
taken. The estimator's cost is linear in rows, and past a few hundred thousand rows the
linear experts' coefficients no longer move beyond their sampling noise (see
``bench/retrain.py``), so the sample buys a bounded fit time at no measurable loss. The held-out
slice is always scored whole.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from classifiers.artifacts import (
    EncoderSpec,
    Manifest,
    list_versions,
    load_artifact,
    read_current,
    read_manifest,
    resolve_version,
    save_artifact,
)
from classifiers.difficulty import GROUP_COLUMN, GROUPS, OUTCOME_COLUMN, DifficultyEstimator
from classifiers.encoder import TextEncoder
from classifiers.errors import ArtifactMismatchError, ArtifactNotFoundError, DataError
from classifiers.features import FEATURE_NAMES, build_features
from classifiers.registry import RegistryError, switch_current
from router.policy import Policy
from training.datasets import SeedRow, file_sha256, read_seed_rows
from training.evaluate import EvaluationReport, evaluate, write_report
from training.gate import (
    EscalationCost,
    GateConfig,
    GateDecision,
    HeldOut,
    LogMetrics,
    auroc_win_share,
    decide,
    log_metrics,
    write_gate_report,
)
from training.logs import (
    CENSORED_WEIGHT,
    MAX_PROPENSITY_WEIGHT,
    LabelledLogs,
    LogData,
    LogSummary,
    describe_groups,
    gate_groups,
    log_targets,
    read_logs,
    require_rows,
)
from training.model_card import write_retrained_card
from training.train import (
    VALIDATION_SHARE,
    embed,
    embedding_cache_file,
    is_validation,
    targets,
)

REPORT_DIR = "report"
MIN_OUTCOME_ROWS = 200
MAX_LOG_ROWS = 300_000
SAMPLE_SEED = 0
PREDICT_CHUNK = 65_536

# progress(step, done, total): ``total`` is None while unknown.
Progress = Callable[[str, int, int | None], None]


@dataclass(frozen=True)
class SeedSplit:
    """Seed data as the estimator takes it: the training share and the validation share."""

    X_train: npt.NDArray[np.float32]
    y_train: npt.NDArray[np.float64]
    X_val: npt.NDArray[np.float32]
    val_rows: tuple[SeedRow, ...]
    summary: dict[str, Any]


@dataclass(frozen=True)
class SeedComparison:
    base: EvaluationReport
    candidate: EvaluationReport


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
    policy: Policy | None = None,
    gate_config: GateConfig | None = None,
    min_outcome_rows: int = MIN_OUTCOME_ROWS,
    max_log_rows: int | None = MAX_LOG_ROWS,
    promote: bool = True,
    progress: Progress | None = None,
) -> RetrainResult:
    """Fit a candidate on logged outcomes (and seed data), gate it, publish it; see the module.

    ``encoder`` embeds the seed data on a cache miss (default: the packaged encoder, loaded only
    then); ``policy`` gives the top tier's index and the first band edge (default: tiers are read
    from the logs). ``promote=False`` publishes without touching CURRENT.
    """
    if not 0.0 < holdout_share < 1.0:
        raise ValueError(f"holdout_share must be in (0, 1), got {holdout_share}")
    step = progress or _quiet
    gate_config = gate_config or GateConfig()
    base_dir = resolve_version(models_dir, base_version)
    base_manifest = read_manifest(base_dir)
    base = _base_estimator(base_dir, base_manifest)
    spec = base_manifest.encoder

    data = read_logs(
        logs_path, dimension=spec.dimension, progress=lambda n, t: step("reading logs", n, t)
    )
    require_rows(data, logs_path)
    notes = _logged_version_notes(models_dir, data.summary, spec)
    labelled = data.labelled
    train_idx, held_idx = split_by_time(labelled.time, holdout_share)
    if train_idx.size == 0:
        raise DataError(f"{logs_path}: {len(labelled)} rows with feedback leave none to train on")

    step("scoring logs with the base", 0, 1)
    base_scores = _chunked(base.predict, labelled.X)
    groups = _chunked(lambda X: gate_groups(base, X), labelled.X)
    step("scoring logs with the base", 1, 1)
    top_tier = len(policy.tiers) - 1 if policy is not None else None
    seed = None
    if seed_data is not None:
        seed = load_seed(seed_data, encoder or LazyEncoder(spec), cache_dir=cache_dir, step=step)
    else:
        notes.append(
            "no seed data: the candidate learned from logged outcomes alone, and no seed"
            " validation metrics guard its promotion"
        )
    sampled = _sample(train_idx, max_log_rows, notes)
    fitted_idx, set_aside = _enough_outcomes(seed, sampled, groups, min_outcome_rows)
    notes += [
        f"{count} logged rows of group {GROUPS[group]} set aside: with the seed's, under"
        f" {min_outcome_rows} rows with outcomes, too few to fit the group's outcome expert"
        for group, count in set_aside.items()
    ]
    if fitted_idx.size == 0:
        raise DataError(
            f"{logs_path}: no group has {min_outcome_rows} rows with outcomes yet"
            f" ({sampled.size} logged rows with feedback to train on); export a longer window"
        )
    X, y, weights = _training_set(
        seed,
        *log_targets(
            labelled.take(fitted_idx),
            base_scores=base_scores[fitted_idx],
            groups=groups[fitted_idx],
            top_tier=top_tier,
        ),
    )

    step("fitting the candidate", 0, 1)
    candidate = DifficultyEstimator(**_hyperparameters(base_manifest, base))
    candidate.fit(X, y, sample_weight=weights)
    step("fitting the candidate", 1, 1)

    step("evaluating", 0, 1)
    held_logs = labelled.take(held_idx)
    held = HeldOut.from_logs(held_logs)
    cost = EscalationCost.from_tiers(data.summary.tiers)
    if cost.unit.startswith("escalations"):
        notes.append("no cost data in the export: cost is counted in escalations")
    threshold = policy.tiers[0].band[1] if policy is not None and len(policy.tiers) > 1 else None
    base_held = base_scores[held_idx]
    candidate_held = _chunked(candidate.predict, held_logs.X)
    metrics = {
        name: log_metrics(held, scores, cost=cost, config=gate_config, threshold=threshold)
        for name, scores in (("base", base_held), ("candidate", candidate_held))
    }
    comparison, candidate_val = _seed_comparison(seed, base, candidate)
    notes += _overlap_notes(base_manifest, held_logs)
    step("evaluating", 1, 1)

    version = version or default_version(data.summary.sha256)
    gate = decide(
        base_version=base_manifest.version,
        candidate_version=version,
        base=metrics["base"],
        candidate=metrics["candidate"],
        cost_unit=cost.unit,
        win_share=auroc_win_share(held, base_held, candidate_held, resamples=gate_config.resamples),
        base_seed=None if comparison is None else comparison.base,
        candidate_seed=None if comparison is None else comparison.candidate,
        config=gate_config,
        notes=notes,
    )

    def attach(folder: Path, manifest: Manifest) -> None:
        report = folder / REPORT_DIR
        write_gate_report(gate, held, base_held, candidate_held, report, config=gate_config)
        if seed is not None and comparison is not None and candidate_val is not None:
            write_report(comparison.candidate, seed.val_rows, candidate_val, report)
        write_retrained_card(
            folder, manifest, gate, None if comparison is None else comparison.candidate
        )

    step("publishing", 0, 1)
    manifest = save_artifact(
        models_dir,
        version,
        candidate,
        encoder_name=spec.name,
        encoder_dimension=spec.dimension,
        feature_names=base_manifest.feature_names,
        training_data=_training_summary(
            base_manifest,
            data,
            train_idx,
            held_idx,
            fitted_idx,
            groups,
            seed,
            holdout_share,
        ),
        metrics={
            "estimator": {"class": type(candidate).__name__, **candidate.get_params()},
            "holdout": metrics["candidate"].to_dict(),
            "base_holdout": metrics["base"].to_dict(),
            "gate": gate.to_dict(),
            **({} if comparison is None else {"validation": comparison.candidate.to_dict()}),
        },
        attach=attach,
    )
    step("publishing", 1, 1)
    promoted, promotion = _promote(models_dir, version, base_manifest, gate, spec, promote)
    return RetrainResult(
        version=version,
        version_dir=models_dir / version,
        base_version=base_manifest.version,
        manifest=manifest,
        gate=gate,
        promoted=promoted,
        promotion=promotion,
        current=_current(models_dir),
        logs=data.summary,
        base_holdout=metrics["base"],
        candidate_holdout=metrics["candidate"],
        seed=comparison,
    )


def split_by_time(
    times: npt.ArrayLike, holdout_share: float
) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.intp]]:
    """(training, held out) row indices: the newest ``holdout_share`` of rows are held out."""
    stamps = np.asarray(times, dtype=np.float64)
    order = np.argsort(stamps, kind="stable")
    held = math.ceil(holdout_share * stamps.size)
    cut = stamps.size - held
    return np.sort(order[:cut]), np.sort(order[cut:])


def default_version(logs_sha: str) -> str:
    return f"logs-{datetime.now(UTC):%Y%m%d-%H%M%S}-{logs_sha[:8]}"


# --- seed data -------------------------------------------------------------------------------


class LazyEncoder:
    """The packaged encoder, loaded on the first ``encode``: a warm cache never loads torch."""

    def __init__(self, spec: EncoderSpec) -> None:
        self._spec = spec
        self._encoder: TextEncoder | None = None

    @property
    def name(self) -> str:
        return self._spec.name

    @property
    def dimension(self) -> int:
        return self._spec.dimension

    def encode(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        if self._encoder is None:
            from classifiers.encoder import Encoder

            encoder = Encoder.load(cache_size=0)
            if (encoder.name, encoder.dimension) != (self.name, self.dimension):
                raise ArtifactMismatchError(
                    encoder.name,
                    f"the base was fitted on {self.name} ({self.dimension} dimensions);"
                    f" the packaged encoder gives {encoder.dimension}",
                )
            self._encoder = encoder
        return self._encoder.encode(texts)


def load_seed(
    path: Path,
    encoder: TextEncoder,
    *,
    cache_dir: Path | None = None,
    step: Progress | None = None,
) -> SeedSplit:
    """The seed file embedded (through the on-disk cache ``train_seed`` shares) and split."""
    rows = list(read_seed_rows(path))
    if not rows:
        raise DataError(f"{path}: no seed rows")
    sha = file_sha256(path)
    cache = None if cache_dir is None else embedding_cache_file(cache_dir, encoder.name, sha)
    prompts = [row.prompt for row in rows]
    report = step or _quiet
    embeddings = embed(
        encoder, prompts, cache_file=cache, progress=lambda d, t: report("embedding seed", d, t)
    )
    X = build_features(prompts, embeddings)
    y = targets(rows)
    held = np.array([is_validation(row.id) for row in rows])
    return SeedSplit(
        X_train=X[~held],
        y_train=y[~held],
        X_val=X[held],
        val_rows=tuple(row for row, h in zip(rows, held, strict=True) if h),
        summary={
            "file": path.name,
            "sha256": sha,
            "rows": len(rows),
            "train_rows": int((~held).sum()),
            "validation_rows": int(held.sum()),
            "validation_rule": f"sha256(id) bucket < {VALIDATION_SHARE:.0%}",
        },
    )


def _seed_comparison(
    seed: SeedSplit | None, base: DifficultyEstimator, candidate: DifficultyEstimator
) -> tuple[SeedComparison | None, npt.NDArray[np.float64] | None]:
    if seed is None or not seed.val_rows:
        return None, None
    candidate_scores = candidate.predict(seed.X_val)
    comparison = SeedComparison(
        base=evaluate(seed.val_rows, base.predict(seed.X_val)),
        candidate=evaluate(seed.val_rows, candidate_scores),
    )
    return comparison, candidate_scores


# --- pieces ----------------------------------------------------------------------------------


def _base_estimator(version_dir: Path, manifest: Manifest) -> DifficultyEstimator:
    spec = manifest.encoder
    loaded = load_artifact(version_dir, encoder_name=spec.name, encoder_dimension=spec.dimension)
    estimator = loaded.estimator
    if not isinstance(estimator, DifficultyEstimator):
        raise ArtifactMismatchError(
            version_dir,
            f"holds a {type(estimator).__name__}; retraining from logs needs a"
            " DifficultyEstimator (its gate assigns logged prompts to groups)",
        )
    if tuple(manifest.feature_names) != FEATURE_NAMES:
        raise ArtifactMismatchError(
            version_dir,
            f"fitted on features {list(manifest.feature_names)}; logged rows carry the"
            f" embedding and {list(FEATURE_NAMES)}",
        )
    return estimator


def _hyperparameters(manifest: Manifest, base: DifficultyEstimator) -> dict[str, Any]:
    """The base manifest's estimator parameters (falling back to the base's own)."""
    known = base.get_params()
    recorded = manifest.metrics.get("estimator", {})
    return {name: recorded.get(name, value) for name, value in known.items()}


def _sample(
    index: npt.NDArray[np.intp], limit: int | None, notes: list[str]
) -> npt.NDArray[np.intp]:
    if limit is None or index.size <= limit:
        return index
    notes.append(
        f"fitted on a uniform sample of {limit:,} of the {index.size:,} training rows with"
        " feedback (max_log_rows)"
    )
    rng = np.random.default_rng(SAMPLE_SEED)
    return np.sort(rng.choice(index, size=limit, replace=False))


def _training_set(
    seed: SeedSplit | None,
    X_log: npt.NDArray[np.float32],
    y_log: npt.NDArray[np.float64],
    w_log: npt.NDArray[np.float64],
) -> tuple[npt.NDArray[Any], npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Seed rows (weight 1), then logged rows."""
    if seed is None:
        return X_log, y_log, w_log
    return (
        np.vstack([seed.X_train, X_log]),
        np.vstack([seed.y_train, y_log]),
        np.concatenate([np.ones(len(seed.y_train)), w_log]),
    )


def _enough_outcomes(
    seed: SeedSplit | None,
    index: npt.NDArray[np.intp],
    groups: npt.NDArray[np.int64],
    minimum: int,
) -> tuple[npt.NDArray[np.intp], dict[int, int]]:
    """The logged rows (of ``index``) in groups with at least ``minimum`` rows with outcomes,
    counting the seed's; and how many rows of each other group were set aside.

    Logged rows train a group through its outcome expert, which ``DifficultyEstimator`` fits on
    the group's outcome rows alone. Below ``minimum`` such rows that expert would rest on a
    handful of prompts (often ones the gate misplaced, like an algebra question from MMLU in the
    math group); and as 0/1 gain targets beside the seed's prior-labelled rows they would only
    add noise to the group's ridge expert. So they wait until there are enough of them.
    """
    logged = groups[index]
    set_aside: dict[int, int] = {}
    for group in np.unique(logged).tolist():
        seed_rows = 0
        if seed is not None:
            y = seed.y_train
            with_outcome = (y[:, GROUP_COLUMN] == group) & ~np.isnan(y[:, OUTCOME_COLUMN])
            seed_rows = int(with_outcome.sum())
        count = int(np.sum(logged == group))
        if seed_rows + count < minimum:
            set_aside[int(group)] = count
    keep = ~np.isin(logged, list(set_aside))
    return index[keep], set_aside


def _logged_version_notes(models_dir: Path, summary: LogSummary, spec: EncoderSpec) -> list[str]:
    """Refuse logs embedded by another encoder; note versions this registry does not hold."""
    held = set(list_versions(models_dir))
    for name in summary.classifier_versions:
        if name not in held:
            continue
        logged = read_manifest(models_dir / name).encoder
        if logged != spec:
            raise ArtifactMismatchError(
                models_dir / name,
                f"logged rows were embedded for {logged.name} ({logged.dimension} dimensions);"
                f" the base uses {spec.name} ({spec.dimension}): their embeddings do not mix",
            )
    unknown = sorted(set(summary.classifier_versions) - held)
    if unknown:
        return [f"rows scored by versions not in {models_dir}: {', '.join(unknown)}"]
    return []


def _overlap_notes(base: Manifest, held: LabelledLogs) -> list[str]:
    trained_until = (base.training_data.get("logs") or {}).get("trained_until")
    if not trained_until or len(held) == 0:
        return []
    held_from = datetime.fromtimestamp(float(held.time.min()), UTC).isoformat(timespec="seconds")
    if trained_until >= held_from:
        return [
            f"the base was trained on logs up to {trained_until}, overlapping the held-out"
            f" slice (from {held_from}): its held-out figures are optimistic"
        ]
    return []


def _training_summary(
    base: Manifest,
    data: LogData,
    train_idx: npt.NDArray[np.intp],
    held_idx: npt.NDArray[np.intp],
    fitted_idx: npt.NDArray[np.intp],
    groups: npt.NDArray[np.int64],
    seed: SeedSplit | None,
    holdout_share: float,
) -> dict[str, Any]:
    times = data.labelled.time
    return {
        "kind": "logs",
        "base_version": base.version,
        "logs": {
            **data.summary.to_dict(),
            "train_rows": int(train_idx.size),
            "fitted_rows": int(fitted_idx.size),
            "holdout_rows": int(held_idx.size),
            "split": f"by time: the newest {holdout_share:.0%} of rows with feedback held out",
            "trained_until": _iso(times[train_idx].max()) if train_idx.size else None,
            "holdout_from": _iso(times[held_idx].min()) if held_idx.size else None,
            "rows_by_group": describe_groups(groups[fitted_idx]),
            "max_propensity_weight": MAX_PROPENSITY_WEIGHT,
            "censored_weight": CENSORED_WEIGHT,
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


def _chunked(predict: Callable[[Any], npt.NDArray[Any]], X: npt.NDArray[Any]) -> npt.NDArray[Any]:
    """``predict`` over ``X`` a block of rows at a time: the estimator copies its input to
    float64 and standardises it, which on a million logged rows would take 6 GB at once."""
    if len(X) <= PREDICT_CHUNK:
        return predict(X)
    return np.concatenate(
        [predict(X[start : start + PREDICT_CHUNK]) for start in range(0, len(X), PREDICT_CHUNK)]
    )


def _iso(timestamp: float) -> str:
    return datetime.fromtimestamp(float(timestamp), UTC).isoformat(timespec="seconds")


def _quiet(step: str, done: int, total: int | None) -> None:
    pass
