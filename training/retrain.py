"""Retrain from logged decisions, judge the candidate with the gate, publish it, maybe promote it.

    export.jsonl ──read_logs──> labelled rows ──split by time──> older: training │ newest: held out
    base version (CURRENT) ──> base scores ──soft_labels──> logged labels (the score's quantity)
    fit_correction(base scores, standardised X, labels) ──> candidate = base + correction
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
(``classifiers.registry.switch_current``, under a lock, only if CURRENT is still the base the gate
compared against), so an interrupted or concurrent retrain leaves either nothing or a complete
version, and CURRENT always names a complete one.

**Scale.** Only rows with feedback keep their embedding in memory (``read_logs``), predictions
run in blocks, only the rows to fit and the held-out slice outlive reading, and at most
``max_log_rows`` (300,000) training rows are fitted: beyond that, a uniform sample (fixed seed).
The estimator's time and memory grow linearly with rows, its accuracy does not: on a synthetic
export of a million decisions, all with feedback (``bench/retrain.py``, 2 busy cores), fitting
all 800,000 training rows took 79 s and 18.3 GB at peak for a held-out AUROC of 0.912; the
300,000-row sample took 36 s and 7.3 GB for 0.911. The held-out slice is always scored whole.
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
    check_encoder,
    list_versions,
    load_artifact,
    read_current,
    read_manifest,
    resolve_version,
    save_artifact,
)
from classifiers.correction import fit_correction
from classifiers.difficulty import DifficultyEstimator
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
    LogSummary,
    describe_groups,
    gate_groups,
    read_logs,
    recovery_rate,
    require_rows,
)
from training.model_card import write_retrained_card
from training.train import (
    SPLIT_RULE,
    embed,
    embedding_cache_file,
    is_validation,
    targets,
)

REPORT_DIR = "report"
MIN_LOG_ROWS = 50
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
    min_log_rows: int = MIN_LOG_ROWS,
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
    config = gate_config or GateConfig()
    base = _Base.load(models_dir, base_version)
    logs = _read(logs_path, models_dir, base, holdout_share, max_log_rows, step)
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
    judged = _judge(base, candidate, version, logs, seed, policy, config)
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
class _Base:
    """The version the candidate is compared against, and its estimator."""

    manifest: Manifest
    estimator: DifficultyEstimator

    @classmethod
    def load(cls, models_dir: Path, version: str | None) -> _Base:
        version_dir = resolve_version(models_dir, version)
        manifest = read_manifest(version_dir)
        return cls(manifest, _base_estimator(version_dir, manifest))


@dataclass
class _Logs:
    """The export's labelled rows that retraining uses, split by time and scored by the base.

    Only the training rows to fit (``max_log_rows`` of them at most) and the held-out slice are
    kept: the export's other rows are dropped before the fit, which needs the memory.
    """

    summary: LogSummary
    train: LabelledLogs
    train_scores: npt.NDArray[np.float64]
    train_groups: npt.NDArray[np.int64]
    train_rows: int  # before sampling
    holdout: LabelledLogs
    holdout_scores: npt.NDArray[np.float64]
    notes: list[str]


def _read(
    path: Path,
    models_dir: Path,
    base: _Base,
    holdout_share: float,
    max_log_rows: int | None,
    step: Progress,
) -> _Logs:
    spec = base.manifest.encoder
    data = read_logs(
        path, dimension=spec.dimension, progress=lambda n, t: step("reading logs", n, t)
    )
    require_rows(data, path)
    notes = _logged_version_notes(models_dir, data.summary, spec)
    train_idx, held_idx = split_by_time(data.labelled.time, holdout_share)
    if train_idx.size == 0:
        raise DataError(f"{path}: {len(data.labelled)} rows with feedback leave none to train on")
    sampled = _sample(train_idx, max_log_rows, notes)
    step("scoring logs with the base", 0, 1)
    train, holdout = data.labelled.take(sampled), data.labelled.take(held_idx)
    summary = data.summary
    del data  # the labelled rows outside the sample and the slice
    estimator = base.estimator
    logs = _Logs(
        summary=summary,
        train=train,
        train_scores=_chunked(estimator.predict, train.X),
        train_groups=_chunked(lambda X: gate_groups(estimator, X), train.X),
        train_rows=int(train_idx.size),
        holdout=holdout,
        holdout_scores=_chunked(estimator.predict, holdout.X),
        notes=notes,
    )
    step("scoring logs with the base", 1, 1)
    return logs


def fit_candidate(
    base: DifficultyEstimator,
    logs: _Logs,
    min_log_rows: int,
    path: Path,
) -> tuple[DifficultyEstimator, npt.NDArray[np.intp]]:
    """The base with a correction fitted on the logged training rows; and the rows it used."""
    train = logs.train
    if len(train) < min_log_rows:
        raise DataError(
            f"{path}: {len(train)} logged rows with feedback to train on; a correction needs"
            f" at least {min_log_rows}: export a longer window"
        )
    cheap = np.flatnonzero(train.tier_index == 0)
    failed = ~train.success[cheap]
    if cheap.size < min_log_rows or failed.all() or not failed.any():
        raise DataError(
            f"{path}: {cheap.size} logged rows served by the cheapest tier, {int(failed.sum())}"
            f" of them failures; a correction needs at least {min_log_rows} with both outcomes"
            " (the cheapest tier's outcome is what says which prompts need escalating: serve"
            " with ROUTER_EXPLORATION_RATE > 0 so that some prompts of every kind reach it)"
        )
    weights = train.weights[cheap]
    Z = _chunked(base.standardised, train.X[cheap])
    correction = fit_correction(
        logs.train_scores[cheap],
        Z,
        failed.astype(float),
        weights / weights.mean(),
        recovery=recovery_rate(train),
        embedding_columns=train.X.shape[1] - len(FEATURE_NAMES),
    )
    logs.notes.append(
        f"correction fitted on the {cheap.size} logged rows the cheapest tier served"
        f" ({int(failed.sum())} failures); recovery rate {correction.recovery:.2f}"
    )
    return base.with_correction(correction), cheap


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
    base: _Base,
    candidate: DifficultyEstimator,
    version: str,
    logs: _Logs,
    seed: SeedSplit | None,
    policy: Policy | None,
    config: GateConfig,
) -> _Judgement:
    held_logs = logs.holdout
    held = HeldOut.from_logs(held_logs)
    cost = EscalationCost.from_tiers(logs.summary.tiers)
    if cost.unit.startswith("escalations"):
        logs.notes.append("no cost data in the export: cost is counted in escalations")
    threshold = policy.tiers[0].band[1] if policy is not None and len(policy.tiers) > 1 else None
    base_held = logs.holdout_scores
    candidate_held = _chunked(candidate.predict, held_logs.X)
    before, after = (
        log_metrics(held, scores, cost=cost, config=config, threshold=threshold)
        for scores in (base_held, candidate_held)
    )
    comparison, seed_scores = _seed_comparison(seed, base.estimator, candidate)
    logs.notes.extend(_overlap_notes(base.manifest, held_logs))
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
    base: _Base,
    logs: _Logs,
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
        training_data=_training_summary(base.manifest, logs, fitted, seed),
        metrics={
            "estimator": {"class": type(candidate).__name__, **_params(base.manifest, candidate)},
            "holdout": judged.candidate.to_dict(),
            "base_holdout": judged.base.to_dict(),
            "gate": judged.gate.to_dict(),
            **({} if comparison is None else {"validation": comparison.candidate.to_dict()}),
        },
        attach=attach,
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

    @property
    def files_sha256(self) -> str | None:
        return self._spec.files_sha256

    def encode(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        if self._encoder is None:
            from classifiers.encoder import Encoder

            encoder = Encoder.load(cache_size=0)
            check_encoder("the base version", self._spec, EncoderSpec.of(encoder))
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
            "validation_rule": SPLIT_RULE,
        },
    )


def _seed_comparison(
    seed: SeedSplit | None, base: DifficultyEstimator, candidate: DifficultyEstimator
) -> tuple[SeedComparison | None, npt.NDArray[np.float64] | None]:
    if seed is None or not seed.val_rows:
        return None, None
    texts = [row.prompt for row in seed.val_rows]
    candidate_scores = candidate.predict_text(texts, seed.X_val)
    comparison = SeedComparison(
        base=evaluate(seed.val_rows, base.predict_text(texts, seed.X_val)),
        candidate=evaluate(seed.val_rows, candidate_scores),
    )
    return comparison, candidate_scores


# --- pieces ----------------------------------------------------------------------------------


def _base_estimator(version_dir: Path, manifest: Manifest) -> DifficultyEstimator:
    spec = manifest.encoder
    loaded = load_artifact(
        version_dir,
        encoder_name=spec.name,
        encoder_dimension=spec.dimension,
        encoder_files_sha256=spec.files_sha256,
    )
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


def _params(manifest: Manifest, estimator: DifficultyEstimator) -> dict[str, Any]:
    """The estimator's parameters; the manifest's, or today's defaults, for any parameter its
    base predates (an estimator unpickled from an older version lacks the attribute)."""
    recorded = manifest.metrics.get("estimator", {})
    return {
        name: recorded.get(name, getattr(estimator, name, default))
        for name, default in DifficultyEstimator().get_params().items()
    }


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
    base: Manifest, logs: _Logs, fitted: npt.NDArray[np.intp], seed: SeedSplit | None
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
