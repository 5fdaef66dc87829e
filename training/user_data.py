"""A user's own labelled prompts: the documented JSONL format (docs/data.md), read and checked.

One JSON object a line::

    {"prompt": "...",            required, non-empty text
     "id": "...",                optional (default: the line number)
     "domain": "...",            optional: a seed domain (labels.DOMAIN_GROUP) or any short tag
     "weak": true | 0.4,         the cheapest tier's outcome: right or wrong, or a graded score
     "strong": true | 0.9}       a stronger model's (or bigger budget's) outcome, same scale

``weak`` and ``strong`` come together (an *outcome row*, labelled by ``labels.outcome_gain``) or
not at all (a *prompt-only row*). Anything else, an unknown field included, is a ``RowError``
naming the line and the field, so that a typo (``"stronng"``) is not silently read as a
prompt-only row.

``training_rows`` turns user rows into the ``SeedRow``s the trainer and the evaluation read
(source ``"user"``, the outcome pair under ``labels["outcome"]``). A prompt-only row is kept when
its domain is a seed domain, whose prior then labels it (as the seed data's rows without outcomes
are labelled); without one it carries no label and is left out, counted in the notes.

``detect_format`` tells a user file from a seed file (whose rows carry ``source`` and ``labels``)
by its first row.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from classifiers.errors import DataError, RowError
from training.datasets import (
    OnError,
    SeedRow,
    SkipHandler,
    read_jsonl,
    read_parsed,
    read_seed_rows,
)
from training.labels import DOMAIN_GROUP, OUTCOME_LABEL

USER_SOURCE = "user"
FIELDS = ("prompt", "id", "domain", "weak", "strong")
MAX_DOMAIN_CHARS = 64

DataFormat = Literal["user", "seed"]
Outcome = bool | float


@dataclass(frozen=True, slots=True)
class UserRow:
    """One row of a user's file; ``weak`` and ``strong`` are both set or both ``None``."""

    id: str
    prompt: str
    line: int
    domain: str | None = None
    weak: Outcome | None = None
    strong: Outcome | None = None

    @property
    def has_outcome(self) -> bool:
        return self.weak is not None and self.strong is not None

    @classmethod
    def parse(cls, obj: Mapping[str, Any], *, path: Path | str, line: int) -> UserRow:
        """Check every field; the first problem is a ``RowError`` naming line and field."""
        unknown = sorted(set(obj) - set(FIELDS))
        if unknown:
            raise RowError(
                path, line, f"unknown field '{unknown[0]}' (the fields are {', '.join(FIELDS)})"
            )
        prompt = _prompt(obj, path, line)
        weak = _outcome(obj, "weak", path, line)
        strong = _outcome(obj, "strong", path, line)
        if (weak is None) != (strong is None):
            given, missing = ("weak", "strong") if strong is None else ("strong", "weak")
            raise RowError(
                path,
                line,
                f"field '{missing}' is missing: an outcome row needs both 'weak' and 'strong'"
                f" ('{given}' alone says nothing about the gain); give both or neither",
            )
        return cls(
            id=_row_id(obj, path, line),
            prompt=prompt,
            line=line,
            domain=_domain(obj, path, line),
            weak=weak,
            strong=strong,
        )


@dataclass(frozen=True)
class UserData:
    """What ``training_rows`` makes of a user file: the rows to train on and what was left out."""

    rows: tuple[SeedRow, ...]
    outcome_rows: int
    prompt_only_rows: int
    unlabelled_rows: int  # prompt-only rows without a seed domain: no label, not trained on

    @property
    def notes(self) -> list[str]:
        if not self.unlabelled_rows:
            return []
        return [
            f"{self.unlabelled_rows} prompt-only rows have no seed domain, so no label: they are"
            " not trained on (give them 'weak'/'strong' outcomes or a seed 'domain')"
        ]


def read_user_rows(
    path: Path | str, *, on_error: OnError = "stop", on_skip: SkipHandler | None = None
) -> Iterator[UserRow]:
    """Yield the ``UserRow``s of a JSONL file; a repeated ``id`` is a ``RowError``."""
    first_seen: dict[str, int] = {}

    def parse(line: int, obj: dict[str, Any]) -> UserRow:
        row = UserRow.parse(obj, path=path, line=line)
        if row.id in first_seen:
            raise RowError(path, line, f"field 'id': '{row.id}' repeats line {first_seen[row.id]}")
        first_seen[row.id] = line
        return row

    return read_parsed(path, parse, on_error=on_error, on_skip=on_skip)


def detect_format(path: Path | str) -> DataFormat:
    """``"seed"`` when the first row has ``source`` and ``labels`` (seed data), else ``"user"``."""
    for _, obj in read_jsonl(path):
        return "seed" if "source" in obj and "labels" in obj else "user"
    raise DataError(f"{path}: no rows (the file is empty)")


def training_rows(rows: Sequence[UserRow]) -> UserData:
    """The rows to train on, as ``SeedRow``s; see the module docstring."""
    kept = []
    unlabelled = 0
    for row in rows:
        if not row.has_outcome and row.domain not in DOMAIN_GROUP:
            unlabelled += 1
            continue
        kept.append(to_seed_row(row))
    outcomes = sum(row.has_outcome for row in rows)
    return UserData(tuple(kept), outcomes, len(rows) - outcomes, unlabelled)


def to_seed_row(row: UserRow) -> SeedRow:
    """``row`` as the trainer reads it: source ``user``, the outcome pair in ``labels``."""
    labels: dict[str, Any] = {}
    if row.weak is not None and row.strong is not None:
        labels[OUTCOME_LABEL] = {"weak": row.weak, "strong": row.strong}
    return SeedRow(
        id=row.id,
        source=USER_SOURCE,
        domain=row.domain or USER_SOURCE,
        prompt=row.prompt,
        labels=labels,
        licence="user data",
    )


def _prompt(obj: Mapping[str, Any], path: Path | str, line: int) -> str:
    if "prompt" not in obj:
        raise RowError(path, line, "field 'prompt' is missing")
    prompt = obj["prompt"]
    if not isinstance(prompt, str):
        raise RowError(path, line, f"field 'prompt' must be a string, got {_kind(prompt)}")
    if not prompt.strip():
        raise RowError(path, line, "field 'prompt' is empty")
    return prompt


def _row_id(obj: Mapping[str, Any], path: Path | str, line: int) -> str:
    value = obj.get("id")
    if value is None:
        return f"line-{line}"
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise RowError(path, line, f"field 'id' must be a string, got {_kind(value)}")
    text = str(value)
    if not text.strip():
        raise RowError(path, line, "field 'id' is empty")
    return text


def _domain(obj: Mapping[str, Any], path: Path | str, line: int) -> str | None:
    value = obj.get("domain")
    if value is None:
        return None
    if not isinstance(value, str):
        raise RowError(path, line, f"field 'domain' must be a string, got {_kind(value)}")
    if not value.strip() or len(value) > MAX_DOMAIN_CHARS:
        raise RowError(
            path, line, f"field 'domain' must be a short tag (1 to {MAX_DOMAIN_CHARS} characters)"
        )
    return value.strip()


def _outcome(obj: Mapping[str, Any], name: str, path: Path | str, line: int) -> Outcome | None:
    value = obj.get(name)
    if value is None or isinstance(value, bool):
        return value
    if not isinstance(value, int | float) or math.isnan(value) or not 0.0 <= value <= 1.0:
        raise RowError(
            path,
            line,
            f"field '{name}' must be true/false or a score from 0 to 1, got {value!r}",
        )
    return float(value)


def _kind(value: Any) -> str:
    return "null" if value is None else type(value).__name__


@dataclass(frozen=True)
class TrainingFile:
    """A data file as the trainer reads it, whichever format it is in."""

    format: DataFormat
    rows: tuple[SeedRow, ...]
    notes: tuple[str, ...] = ()


def read_training_file(path: Path | str) -> TrainingFile:
    """The rows of a seed file or a user file (``detect_format``); a bad row is a ``RowError``."""
    if detect_format(path) == "seed":
        return TrainingFile("seed", tuple(read_seed_rows(path)))
    data = training_rows(list(read_user_rows(path)))
    if not data.rows:
        raise DataError(
            f"{path}: nothing to train on: no outcome rows, and no prompt-only rows with a seed"
            " domain (docs/data.md)"
        )
    return TrainingFile("user", data.rows, tuple(data.notes))
