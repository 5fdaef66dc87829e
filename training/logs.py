"""Logged decisions as training data: read the export, decode it, and turn outcomes into labels.

``router logs export`` writes one ``LoggedDecision`` a line (JSONL). Each row carries the prompt's
embedding (float16, base64) and its ten text features, so retraining never re-embeds a prompt and
never needs its text; ``features`` may be null when the prompt text is kept, and is then computed
from it.

**One observed outcome per row.** Feedback events are reduced to one outcome: the latest verifier
result if any event has one; else the majority of explicit ``success``/``failure`` outcomes; else
the majority of rating signs (a rating of 0 says nothing). A tie goes to the latest event. Rows
without feedback, or whose call did not succeed (``status`` other than ``ok``), teach nothing about
difficulty: they are left out, never counted as negatives.

**Censoring.** An outcome is observed only at the tier that served the prompt. Call N the cheapest
tier that would have answered well (tiers are assumed monotone: a tier that succeeds implies every
stronger one would have). Then a success at tier k says N <= k (right-censored) and a failure says
N > k (left-censored). The label is the score's one quantity (``training.labels``): P(the cheapest
tier answers wrong AND a stronger tier answers right). A cheap-tier failure alone is not a gain:
the stronger tiers may fail too. So:

| served at, outcome | what it says | label, weight |
|---|---|---|
| cheapest tier, success | N = 0: escalating gains nothing | 0, w |
| cheapest tier, failure | N >= 1: cheap wrong; strong right with prob. r | r, w |
| higher tier k < top, failure | N > k >= 1: cheap wrong too; the top may recover it | r, w |
| top tier, failure | nothing recovers it | 0, w |
| higher tier k, success | strong right; the cheap outcome is missing | base score b, w / 2 |

``r``, the recovery rate P(a stronger tier right | the cheapest wrong), is estimated from the same
log (``recovery_rate``): with monotone tiers, 1 - (failure rate above the cheapest tier) /
(failure rate at the cheapest), each rate weighted by inverse propensity; without rows at both
(or without cheap failures) it is ``DEFAULT_RECOVERY``. The last row is one E-step of EM: its
missing cheap-tier outcome is filled in with the current model's own estimate b, at half weight
because it is a model's guess, not an observation; such rows anchor the candidate on escalated
traffic. A soft label t becomes two rows, class 1 with weight w*t and class 0 with w*(1-t).

**Exploration.** ``w = min(1 / choice_probability, MAX_PROPENSITY_WEIGHT)``: a row that reached
its tier by a random exploration draw of probability p stands for 1/p such prompts
(inverse-propensity weighting), clipped so that one lucky draw cannot dominate a fit, then scaled
to average 1 over the logged rows (self-normalised, as in Hajek's estimator): the weights correct
the mix *within* the logs without changing how much the logs weigh against seed rows, nor the
gate's group priors, which the same weights reach. With exploration off every weight is 1, and
escalated prompts only ever yield censored rows: exploration is what lets logged traffic say
whether an escalation was needed.

**Retraining.** ``training.retrain`` does not refit the base on these labels: it fits a
``classifiers.correction.Correction`` on top of it, where the log's traffic lies. Its estimate is
the expectation of the table for a prompt: P(the cheapest tier fails | prompt), learned from the
rows the cheapest tier served (inverse-propensity weighted; the only rows whose cheap-tier
outcome is observed), times the recovery rate r. ``log_targets`` spells the table out row by row
(``DifficultyEstimator``'s ``y``) for fitting an estimator on logged rows directly.

**Groups.** Logged rows carry no domain; ``gate_groups`` gives each the group the current
model's gate gives it, for summaries.
"""

from __future__ import annotations

import base64
import binascii
import math
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from classifiers.difficulty import GROUPS, DifficultyEstimator
from classifiers.errors import DataError, RowError
from classifiers.features import FEATURE_NAMES, text_features
from training.datasets import OnError, SkipHandler, file_sha256, read_jsonl

EMBEDDING_DIMENSION = 384
MAX_PROPENSITY_WEIGHT = 10.0
CENSORED_WEIGHT = 0.5
DEFAULT_RECOVERY = 0.5  # on the seed MMLU rows GPT-4 answers 0.52 of the questions Mixtral misses
OK_STATUS = "ok"
PROGRESS_EVERY = 10_000

FloatArray = npt.NDArray[np.float64]
RowsProgress = Callable[[int, int], None]  # (rows read, lines in the file)


class Verifier(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    name: str
    passed: bool


class FeedbackEvent(BaseModel):
    """One piece of feedback on a decision: an outcome, a rating and/or a verifier's result."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    outcome: Literal["success", "failure"] | None = None
    rating: float | None = Field(default=None, ge=-1.0, le=1.0)
    verifier: Verifier | None = None
    source: str | None = None
    time: datetime

    @field_validator("time")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        return _as_utc(value)


class LoggedDecision(BaseModel):
    """One row of ``router logs export``; fields the export adds later are ignored."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    request_id: str
    time: datetime
    prompt_hash: str = Field(pattern=r"^[0-9a-f]{64}$")
    prompt: str | None = None
    embedding: str
    features: list[float] | None = None
    score: float = Field(ge=0.0, le=1.0)
    tier: str
    tier_index: int = Field(ge=0)
    model: str
    upstream_model: str | None = None
    choice_probability: float = Field(gt=0.0, le=1.0)
    classifier_version: str
    policy_version: str
    prompt_tokens: int = Field(ge=0)
    completion_tokens: int = Field(ge=0)
    reasoning_tokens: int = Field(ge=0)
    cost_usd: float = Field(ge=0.0)
    latency_ms: float = Field(ge=0.0)
    status: str
    feedback: list[FeedbackEvent] = Field(default_factory=list)

    @field_validator("time")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        return _as_utc(value)

    @field_validator("features")
    @classmethod
    def _ten_features(cls, features: list[float] | None) -> list[float] | None:
        if features is not None and len(features) != len(FEATURE_NAMES):
            raise ValueError(
                f"has {len(features)} values; the text features are {len(FEATURE_NAMES)}:"
                f" {', '.join(FEATURE_NAMES)}"
            )
        return features

    def vector(self, dimension: int = EMBEDDING_DIMENSION) -> npt.NDArray[np.float32]:
        """The embedding as float32; ``ValueError`` if it is not ``dimension`` finite floats."""
        return decode_embedding(self.embedding, dimension)

    def text_features(self) -> list[float]:
        """The logged features, or the prompt's; ``ValueError`` when neither was logged."""
        if self.features is not None:
            return self.features
        if self.prompt is not None:
            return text_features(self.prompt)
        raise ValueError(
            "'features' and 'prompt' are both null, so the text features cannot be known;"
            " export with features (or with prompt storage on)"
        )

    def outcome(self) -> bool | None:
        """True (success), False (failure) or None; see the module docstring."""
        return observed_outcome(self.feedback) if self.status == OK_STATUS else None


def _as_utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def decode_embedding(text: str, dimension: int = EMBEDDING_DIMENSION) -> npt.NDArray[np.float32]:
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError(f"'embedding' is not base64: {exc}") from exc
    if len(raw) != 2 * dimension:
        raise ValueError(
            f"'embedding' holds {len(raw)} bytes; {dimension} float16 values take {2 * dimension}"
        )
    vector = np.frombuffer(raw, dtype="<f2").astype(np.float32)
    if not np.isfinite(vector).all():
        raise ValueError("'embedding' holds non-finite values")
    return vector


def encode_embedding(vector: npt.ArrayLike) -> str:
    """The export's encoding of one embedding: float16 little-endian, base64."""
    return base64.b64encode(np.asarray(vector, dtype="<f2").tobytes()).decode("ascii")


def observed_outcome(feedback: Sequence[FeedbackEvent]) -> bool | None:
    """Latest verifier, else majority of outcomes, else majority of rating signs; ties: latest."""
    events = sorted(feedback, key=lambda event: event.time)
    verified = [event.verifier.passed for event in events if event.verifier is not None]
    if verified:
        return verified[-1]
    explicit = [event.outcome == "success" for event in events if event.outcome is not None]
    if explicit:
        return _majority(explicit)
    signs = [event.rating > 0 for event in events if event.rating is not None and event.rating]
    return _majority(signs) if signs else None


def _majority(votes: Sequence[bool]) -> bool:
    successes = sum(votes)
    failures = len(votes) - successes
    return votes[-1] if successes == failures else successes > failures


# --- reading an export ------------------------------------------------------------------------


@dataclass(frozen=True)
class TierUsage:
    """How much traffic a tier served in the export, and what a request there cost on average."""

    index: int
    name: str
    rows: int
    labelled: int
    mean_cost_usd: float


@dataclass(frozen=True)
class LogSummary:
    """What an export held; goes into the manifest and the model card."""

    file: str
    sha256: str
    rows: int
    labelled: int
    without_feedback: int  # served, but no feedback that says success or failure
    not_ok: int  # the call failed (status other than "ok"): not a difficulty outcome
    skipped: int
    first_time: str | None
    last_time: str | None
    classifier_versions: dict[str, int]
    policy_versions: dict[str, int]
    tiers: tuple[TierUsage, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "sha256": self.sha256,
            "rows": self.rows,
            "labelled": self.labelled,
            "without_feedback": self.without_feedback,
            "not_ok": self.not_ok,
            "skipped": self.skipped,
            "first_time": self.first_time,
            "last_time": self.last_time,
            "classifier_versions": dict(self.classifier_versions),
            "policy_versions": dict(self.policy_versions),
            "tiers": [vars(tier) for tier in self.tiers],
        }


@dataclass(frozen=True)
class LabelledLogs:
    """The rows with an observed outcome, column by column, in file order."""

    X: npt.NDArray[np.float32]
    time: FloatArray  # POSIX seconds
    tier_index: npt.NDArray[np.int64]
    choice_probability: FloatArray
    success: npt.NDArray[np.bool_]
    logged_score: FloatArray
    request_ids: tuple[str, ...] = field(repr=False)

    def __len__(self) -> int:
        return len(self.success)

    def take(self, index: npt.NDArray[np.intp]) -> LabelledLogs:
        return LabelledLogs(
            X=self.X[index],
            time=self.time[index],
            tier_index=self.tier_index[index],
            choice_probability=self.choice_probability[index],
            success=self.success[index],
            logged_score=self.logged_score[index],
            request_ids=tuple(self.request_ids[i] for i in index),
        )

    @property
    def weights(self) -> FloatArray:
        """Inverse-propensity weights, clipped at ``MAX_PROPENSITY_WEIGHT``."""
        return np.minimum(1.0 / self.choice_probability, MAX_PROPENSITY_WEIGHT)


@dataclass(frozen=True)
class LogData:
    labelled: LabelledLogs
    summary: LogSummary


def read_logs(
    path: Path | str,
    *,
    dimension: int = EMBEDDING_DIMENSION,
    on_error: OnError = "stop",
    on_skip: SkipHandler | None = None,
    progress: RowsProgress | None = None,
) -> LogData:
    """Read an export; keep the labelled rows' inputs and outcomes and every row's accounting.

    A malformed row is a ``RowError`` naming the file and line (or, with ``on_error="skip"``, goes
    to ``on_skip``). Only labelled rows keep their embedding, so memory grows with the feedback,
    not with the traffic.
    """
    path = Path(path)
    lines = count_lines(path) if path.is_file() else 0
    reader = _LogReader(path, dimension, lines)
    skipped: list[RowError] = []

    def skip(error: RowError) -> None:
        skipped.append(error)
        if on_skip is not None:
            on_skip(error)

    handler = skip if on_error == "skip" else None
    for count, (line, obj) in enumerate(read_jsonl(path, on_error=on_error, on_skip=handler), 1):
        try:
            reader.add(line, obj)
        except RowError as error:
            if on_error == "stop":
                raise
            skip(error)
        if progress is not None and count % PROGRESS_EVERY == 0:
            progress(count, lines)
    return reader.finish(len(skipped))


class _LogReader:
    """Accumulates rows into growing column buffers."""

    def __init__(self, path: Path, dimension: int, capacity: int) -> None:
        self.path = path
        self.dimension = dimension
        self.X = _RowBuffer(dimension + len(FEATURE_NAMES), capacity)
        self.columns: dict[str, list[float]] = {
            "time": [],
            "tier_index": [],
            "choice_probability": [],
            "success": [],
            "logged_score": [],
        }
        self.request_ids: list[str] = []
        self.rows = self.without_feedback = self.not_ok = 0
        self.classifier_versions: Counter[str] = Counter()
        self.policy_versions: Counter[str] = Counter()
        self.tier_rows: Counter[int] = Counter()
        self.tier_labelled: Counter[int] = Counter()
        self.tier_cost: defaultdict[int, float] = defaultdict(float)
        self.tier_names: dict[int, str] = {}
        self.first_time = math.inf
        self.last_time = -math.inf

    def add(self, line: int, obj: dict[str, Any]) -> None:
        row = _parse(self.path, line, obj)
        try:
            vector = row.vector(self.dimension)
            features = row.text_features()
        except ValueError as exc:
            raise RowError(self.path, line, str(exc)) from exc
        self._count(row)
        outcome = row.outcome()
        if outcome is None:
            self.without_feedback += row.status == OK_STATUS
            return
        self.tier_labelled[row.tier_index] += 1
        self.X.append(np.concatenate([vector, np.asarray(features, dtype=np.float32)]))
        for name, value in (
            ("time", row.time.timestamp()),
            ("tier_index", row.tier_index),
            ("choice_probability", row.choice_probability),
            ("success", outcome),
            ("logged_score", row.score),
        ):
            self.columns[name].append(float(value))
        self.request_ids.append(row.request_id)

    def _count(self, row: LoggedDecision) -> None:
        self.rows += 1
        stamp = row.time.timestamp()
        self.first_time, self.last_time = min(self.first_time, stamp), max(self.last_time, stamp)
        self.classifier_versions[row.classifier_version] += 1
        self.policy_versions[row.policy_version] += 1
        if row.status != OK_STATUS:
            self.not_ok += 1
            return
        self.tier_rows[row.tier_index] += 1
        self.tier_cost[row.tier_index] += row.cost_usd
        self.tier_names[row.tier_index] = row.tier

    def finish(self, skipped: int) -> LogData:
        columns = self.columns
        labelled = LabelledLogs(
            X=self.X.finish(),
            time=np.asarray(columns["time"], dtype=np.float64),
            tier_index=np.asarray(columns["tier_index"], dtype=np.int64),
            choice_probability=np.asarray(columns["choice_probability"], dtype=np.float64),
            success=np.asarray(columns["success"], dtype=bool),
            logged_score=np.asarray(columns["logged_score"], dtype=np.float64),
            request_ids=tuple(self.request_ids),
        )
        return LogData(labelled, self._summary(len(labelled), skipped))

    def _summary(self, labelled: int, skipped: int) -> LogSummary:
        tiers = tuple(
            TierUsage(
                index=index,
                name=self.tier_names[index],
                rows=self.tier_rows[index],
                labelled=self.tier_labelled[index],
                mean_cost_usd=self.tier_cost[index] / self.tier_rows[index],
            )
            for index in sorted(self.tier_rows)
        )
        return LogSummary(
            file=self.path.name,
            sha256=file_sha256(self.path),
            rows=self.rows,
            labelled=labelled,
            without_feedback=self.without_feedback,
            not_ok=self.not_ok,
            skipped=skipped,
            first_time=_iso(self.first_time) if self.rows else None,
            last_time=_iso(self.last_time) if self.rows else None,
            classifier_versions=dict(self.classifier_versions.most_common()),
            policy_versions=dict(self.policy_versions.most_common()),
            tiers=tiers,
        )


def _parse(path: Path, line: int, obj: dict[str, Any]) -> LoggedDecision:
    try:
        return LoggedDecision.model_validate(obj)
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        first = errors[0]
        where = ".".join(str(part) for part in first["loc"]) or "row"
        more = "" if len(errors) == 1 else f" (and {len(errors) - 1} more problem(s))"
        message = first["msg"].removeprefix("Value error, ")
        raise RowError(path, line, f"field '{where}': {message}{more}") from exc


class _RowBuffer:
    """float32 rows written into one array sized for every line of the file.

    ``np.empty`` only reserves address space: pages become resident as rows are written, so the
    rows without feedback (never written) cost no memory, and nothing is copied at the end.
    """

    def __init__(self, width: int, capacity: int) -> None:
        self.rows = np.empty((capacity, width), dtype=np.float32)
        self.filled = 0

    def append(self, row: npt.NDArray[np.float32]) -> None:
        self.rows[self.filled] = row
        self.filled += 1

    def finish(self) -> npt.NDArray[np.float32]:
        return self.rows[: self.filled]


def count_lines(path: Path) -> int:
    """Newline-terminated lines plus a last unterminated one; a cheap upper bound on rows."""
    lines = 0
    last = b"\n"
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 22), b""):
            lines += block.count(b"\n")
            last = block[-1:]
    return lines + (last != b"\n")


def _iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="seconds")


# --- labels --------------------------------------------------------------------------------------


def gate_groups(estimator: DifficultyEstimator, X: npt.ArrayLike) -> npt.NDArray[np.int64]:
    """The group each row's most likely under ``estimator``'s gate: its ``GROUPS`` index."""
    proba = estimator.predict_groups(X)
    classes = np.asarray(estimator.gate_.classes_, dtype=np.int64)
    return classes[np.argmax(proba, axis=1)] if len(proba) else np.empty(0, dtype=np.int64)


def recovery_rate(logs: LabelledLogs) -> float:
    """P(a stronger tier answers right | the cheapest answered wrong), from the log; see above."""
    weights = logs.weights
    cheap = logs.tier_index == 0
    above = ~cheap
    if not cheap.any() or not above.any():
        return DEFAULT_RECOVERY
    cheap_failure = np.average(~logs.success[cheap], weights=weights[cheap])
    if cheap_failure <= 0:
        return DEFAULT_RECOVERY
    above_failure = np.average(~logs.success[above], weights=weights[above])
    return float(np.clip(1.0 - above_failure / cheap_failure, 0.0, 1.0))


def escalation_target(
    logs: LabelledLogs, base_scores: npt.ArrayLike, top_tier: int, recovery: float
) -> FloatArray:
    """P(cheapest wrong AND a stronger tier right) per row, by the table in the module docstring."""
    base = np.clip(np.asarray(base_scores, dtype=np.float64), 0.0, 1.0)
    cheap = logs.tier_index == 0
    unrecoverable = logs.tier_index >= max(top_tier, 1)
    failure_target = np.where(cheap | ~unrecoverable, recovery, 0.0)
    success_target = np.where(cheap, 0.0, base)
    return np.where(logs.success, success_target, failure_target)


def label_weights(logs: LabelledLogs) -> FloatArray:
    """Inverse-propensity weights, halved for the censored rows (success above the cheapest)."""
    censored = logs.success & (logs.tier_index > 0)
    return np.where(censored, CENSORED_WEIGHT, 1.0) * logs.weights


def log_targets(
    logs: LabelledLogs,
    *,
    base_scores: npt.ArrayLike,
    groups: npt.ArrayLike,
    top_tier: int | None = None,
    recovery: float | None = None,
) -> tuple[npt.NDArray[np.float32], FloatArray, FloatArray]:
    """``(X, y, sample_weight)`` from labelled logged rows, one soft label split in two rows.

    ``base_scores`` and ``groups`` come from the current model (``predict`` and ``gate_groups``);
    ``top_tier`` is the strongest tier's index (default: the highest in the rows); ``recovery``
    defaults to ``recovery_rate(logs)``. Weights average 1 per logged row (before the split of
    soft labels). ``y`` has ``DifficultyEstimator``'s columns: the group, the class (1 or 0) as
    both target and outcome, no topic.
    """
    n = len(logs)
    base = np.asarray(base_scores, dtype=np.float64)
    group = np.asarray(groups, dtype=np.float64)
    if base.shape != (n,) or group.shape != (n,):
        raise ValueError(
            f"need one base score and one group per row ({n});"
            f" got shapes {base.shape} and {group.shape}"
        )
    rows, classes, weights = soft_labels(logs, base, top_tier=top_tier, recovery=recovery)
    y = np.column_stack([group[rows], classes, classes, np.full(rows.size, math.nan)])
    return logs.X[rows], y, weights


def soft_labels(
    logs: LabelledLogs,
    base_scores: npt.ArrayLike,
    *,
    top_tier: int | None = None,
    recovery: float | None = None,
) -> tuple[npt.NDArray[np.intp], FloatArray, FloatArray]:
    """``(rows, classes, weights)``: each logged row's soft label as a class-1 and a class-0 row
    (positions in ``logs``), weights averaging 1 per logged row; see ``log_targets``."""
    n = len(logs)
    top = int(logs.tier_index.max(initial=0)) if top_tier is None else top_tier
    rate = recovery_rate(logs) if recovery is None else recovery
    target = escalation_target(logs, base_scores, top, rate)
    weight = label_weights(logs)
    weight = weight * (n / weight.sum()) if n else weight
    positive, negative = np.flatnonzero(target > 0), np.flatnonzero(target < 1)
    rows = np.concatenate([positive, negative])
    classes = np.concatenate([np.ones(positive.size), np.zeros(negative.size)])
    weights = np.concatenate(
        [weight[positive] * target[positive], weight[negative] * (1 - target[negative])]
    )
    return rows, classes, weights


def describe_groups(groups: npt.ArrayLike) -> dict[str, int]:
    """Row counts by group name, for summaries."""
    counts = Counter(int(g) for g in np.asarray(groups).tolist())
    return {GROUPS[g]: counts[g] for g in sorted(counts)}


def require_rows(data: LogData, path: Path) -> None:
    if len(data.labelled) == 0:
        raise DataError(
            f"{path}: none of the {data.summary.rows} logged decisions has usable feedback"
            f" ({data.summary.without_feedback} have none, {data.summary.not_ok} did not"
            " succeed); retraining needs outcomes"
        )
