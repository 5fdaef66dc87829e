"""Logged decisions as training data: read the export, reduce each row's feedback to one outcome.

``router logs export`` writes one ``records.ExportRow`` a line (JSONL), the schema read here.
Each row carries the prompt's embedding (float16, base64) and its ten text features, so
retraining never re-embeds a prompt and never needs its text; ``features`` may be null when the
prompt text is kept, and is then computed from it.

**One observed outcome per row.** Feedback events are reduced to one outcome: the latest verifier
result if any event has one; else the majority of explicit ``success``/``failure`` outcomes; else
the majority of rating signs (a rating of 0 says nothing). A tie goes to the latest event. Rows
without feedback, or whose call did not succeed (``status`` other than ``ok``), teach nothing about
difficulty: they are left out, never counted as negatives. ``training.log_labels`` turns the
outcomes into labels and weights.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from pydantic import ValidationError

from classifiers.errors import DataError, RowError
from classifiers.features import FEATURE_NAMES, text_features
from records import EMBEDDING_DTYPE, ExportRow, FeedbackEvent
from training.datasets import OnError, SkipHandler, file_sha256, read_jsonl

EMBEDDING_DIMENSION = 384
MAX_PROPENSITY_WEIGHT = 10.0
OK_STATUS = "ok"
PROGRESS_EVERY = 10_000

FloatArray = npt.NDArray[np.float64]
RowsProgress = Callable[[int, int], None]  # (rows read, lines in the file)


def row_vector(row: ExportRow, dimension: int = EMBEDDING_DIMENSION) -> npt.NDArray[np.float32]:
    """The row's embedding as float32; ``ValueError`` if it is not ``dimension`` finite floats."""
    return decode_embedding(row.embedding, dimension)


def row_features(row: ExportRow) -> list[float]:
    """The logged features, or the prompt's; ``ValueError`` when neither was logged."""
    if row.features is not None:
        return list(row.features)
    if row.prompt is not None:
        return text_features(row.prompt)
    raise ValueError(
        "'features' and 'prompt' are both null, so the text features cannot be known;"
        " export with features (or with prompt storage on)"
    )


def row_outcome(row: ExportRow) -> bool | None:
    """True (success), False (failure) or None; see the module docstring."""
    return observed_outcome(row.feedback) if row.status == OK_STATUS else None


def decode_embedding(raw: bytes, dimension: int = EMBEDDING_DIMENSION) -> npt.NDArray[np.float32]:
    """float16 little-endian bytes as a float32 vector of ``dimension`` finite values."""
    if len(raw) != 2 * dimension:
        raise ValueError(
            f"'embedding' holds {len(raw)} bytes; {dimension} float16 values take {2 * dimension}"
        )
    vector = np.frombuffer(raw, dtype=EMBEDDING_DTYPE).astype(np.float32)
    if not np.isfinite(vector).all():
        raise ValueError("'embedding' holds non-finite values")
    return vector


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
            vector = row_vector(row, self.dimension)
            features = row_features(row)
        except ValueError as exc:
            raise RowError(self.path, line, str(exc)) from exc
        self._count(row)
        outcome = row_outcome(row)
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

    def _count(self, row: ExportRow) -> None:
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


def _parse(path: Path, line: int, obj: dict[str, Any]) -> ExportRow:
    try:
        return ExportRow.model_validate(obj)
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


def require_rows(data: LogData, path: Path) -> None:
    if len(data.labelled) == 0:
        raise DataError(
            f"{path}: none of the {data.summary.rows} logged decisions has usable feedback"
            f" ({data.summary.without_feedback} have none, {data.summary.not_ok} did not"
            " succeed); retraining needs outcomes"
        )
