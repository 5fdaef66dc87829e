"""Reading JSONL data files: the seed data, and anything else kept one JSON object a line.

``read_jsonl`` yields ``(line_number, object)`` pairs; ``read_parsed`` turns each object into a
row with a caller's parser (``read_seed_rows``: ``SeedRow``s; ``router score``: its prompts), a
``RowError`` from the parser counting as a malformed line. A malformed line is a ``RowError``
naming the file and its 1-based line; with ``on_error="skip"`` each one goes to ``on_skip`` and
reading goes on, so a command can report them all at the end. Bytes that are not UTF-8 make the
whole file unusable: a ``DataError`` naming the line and column, in either mode. ``count_rows``
counts the non-blank lines (checking the bytes the same way), for a progress bar's total.

The seed file writes a missing RouterBench outcome as the bare token ``NaN``, which Python's
``json`` accepts and strict JSON parsers do not; it reads as ``float("nan")``, "no outcome".
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Literal, TypeVar

from classifiers.errors import DataError, RowError

OnError = Literal["stop", "skip"]
SkipHandler = Callable[[RowError], None]

_Parsed = TypeVar("_Parsed")

_BOM = b"\xef\xbb\xbf"
_MATH_LEVELS = range(1, 6)


def read_jsonl(
    path: Path | str, *, on_error: OnError = "stop", on_skip: SkipHandler | None = None
) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield ``(line_number, object)`` for each non-blank line of ``path``.

    With ``on_error="stop"`` the first malformed line raises its ``RowError``; with ``"skip"`` it
    goes to ``on_skip`` (required, so that nothing is dropped unseen) and reading goes on. Reading
    is lazy: rows before a bad byte have been yielded by the time its ``DataError`` is raised.
    """
    return read_parsed(path, _numbered, on_error=on_error, on_skip=on_skip)


def read_parsed(
    path: Path | str,
    parse: Callable[[int, dict[str, Any]], _Parsed],
    *,
    on_error: OnError = "stop",
    on_skip: SkipHandler | None = None,
) -> Iterator[_Parsed]:
    """``read_jsonl``, each object turned into a row by ``parse(line_number, object)``; a
    ``RowError`` from ``parse`` is a malformed line like any other (stopped at, or skipped)."""
    if on_error == "skip" and on_skip is None:
        raise TypeError(f"reading {path} with on_error='skip' needs on_skip for the skipped lines")
    return _read_parsed(Path(path), parse, on_error, on_skip)


def _read_parsed(
    path: Path,
    parse: Callable[[int, dict[str, Any]], _Parsed],
    on_error: OnError,
    on_skip: SkipHandler | None,
) -> Iterator[_Parsed]:
    for number, text in _text_lines(path):
        try:
            row = parse(number, _parse_object(path, number, text))
        except RowError as error:
            if on_error == "stop" or on_skip is None:
                raise
            on_skip(error)
            continue
        yield row


def _numbered(line: int, obj: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    return line, obj


def count_rows(path: Path | str) -> int:
    """How many non-blank lines ``path`` has; ``DataError`` if its bytes are not UTF-8."""
    return sum(1 for _ in _text_lines(Path(path)))


def _text_lines(path: Path) -> Iterator[tuple[int, str]]:
    """(number, text) of each non-blank line, a leading byte order mark dropped."""
    with _open_binary(path) as lines:
        for number, raw in enumerate(lines, start=1):
            body = raw[len(_BOM) :] if number == 1 and raw.startswith(_BOM) else raw
            text = _decode(path, number, body)
            if text.strip():
                yield number, text


def file_sha256(path: Path) -> str:
    """The sha256 of a file's bytes, read a megabyte at a time."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _open_binary(path: Path) -> BinaryIO:
    try:
        return path.open("rb")
    except OSError as exc:
        raise DataError(f"{path}: cannot read: {exc.strerror or exc}") from exc


def _decode(path: Path, line: int, raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DataError(
            f"{path}:{line}: not UTF-8 (byte 0x{raw[exc.start]:02x} at column {exc.start + 1});"
            " re-encode the file as UTF-8"
        ) from exc


def _parse_object(path: Path, line: int, text: str) -> dict[str, Any]:
    try:
        value = json.loads(text.rstrip("\r\n"))  # an error at the end names this line
    except json.JSONDecodeError as exc:
        raise RowError(path, line, f"not valid JSON: {exc.msg} (column {exc.colno})") from exc
    if not isinstance(value, dict):
        raise RowError(path, line, f"expected a JSON object, got {type(value).__name__}")
    return value


@dataclass(frozen=True, slots=True)
class SeedRow:
    """One prompt of the seed data and the difficulty signals it carries (shared/data/README.md)."""

    id: str
    source: str
    domain: str
    prompt: str
    labels: Mapping[str, Any]
    licence: str = ""

    @classmethod
    def parse(cls, obj: Mapping[str, Any], *, path: Path | str, line: int) -> SeedRow:
        """Check the fields and the known labels' shapes; a problem is a ``RowError``."""
        fields = {
            name: _text_field(obj, name, path, line)
            for name in ("id", "source", "domain", "prompt")
        }
        if not fields["prompt"].strip():
            raise RowError(path, line, "field 'prompt' is empty")
        labels = obj.get("labels", {})
        if not isinstance(labels, dict):
            raise RowError(
                path, line, f"field 'labels' must be an object, got {type(labels).__name__}"
            )
        problem = _label_problem(labels)
        if problem is not None:
            raise RowError(path, line, problem)
        licence = obj.get("licence", "")
        return cls(labels=labels, licence=licence if isinstance(licence, str) else "", **fields)

    @property
    def model_correct(self) -> dict[str, bool]:
        """``labels["correct"]``: model id -> answered correctly; empty when the row has none."""
        return dict(self.labels.get("correct", {}))

    @property
    def rb11_correct(self) -> dict[str, float]:
        """``labels["rb11_correct"]`` without missing outcomes: model id -> 0.0 or 1.0."""
        outcomes = self.labels.get("rb11_correct", {})
        return {model: float(v) for model, v in outcomes.items() if not math.isnan(v)}

    @property
    def level(self) -> int | None:
        """MATH competition level, 1 (easiest) to 5."""
        level = self.labels.get("level")
        return None if level is None else int(level)


def read_seed_rows(
    path: Path | str, *, on_error: OnError = "stop", on_skip: SkipHandler | None = None
) -> Iterator[SeedRow]:
    """Yield the ``SeedRow``s of a JSONL file; a repeated ``id`` is a ``RowError``."""
    first_seen: dict[str, int] = {}

    def parse(line: int, obj: dict[str, Any]) -> SeedRow:
        row = SeedRow.parse(obj, path=path, line=line)
        if row.id in first_seen:
            raise RowError(
                path, line, f"duplicate id '{row.id}' (first on line {first_seen[row.id]})"
            )
        first_seen[row.id] = line
        return row

    return read_parsed(path, parse, on_error=on_error, on_skip=on_skip)


def _text_field(obj: Mapping[str, Any], name: str, path: Path | str, line: int) -> str:
    if name not in obj:
        raise RowError(path, line, f"missing field '{name}'")
    value = obj[name]
    if not isinstance(value, str):
        raise RowError(path, line, f"field '{name}' must be a string, got {type(value).__name__}")
    return value


def _label_problem(labels: Mapping[str, Any]) -> str | None:
    """What is wrong with the labels the evaluation reads, or None."""
    correct = labels.get("correct", {})
    if not _is_model_map(correct) or not all(isinstance(v, bool) for v in correct.values()):
        return "labels.correct must map model ids to true/false"
    outcomes = labels.get("rb11_correct", {})
    if not _is_model_map(outcomes) or not all(_is_outcome(v) for v in outcomes.values()):
        return "labels.rb11_correct must map model ids to 0.0, 1.0 or NaN"
    level = labels.get("level")
    if level is not None and (type(level) is not int or level not in _MATH_LEVELS):
        return f"labels.level must be an integer from 1 to 5, got {level!r}"
    return None


def _is_model_map(value: Any) -> bool:
    return isinstance(value, dict) and all(isinstance(k, str) for k in value)


def _is_outcome(value: Any) -> bool:
    return type(value) in (int, float) and (math.isnan(value) or value in (0, 1))
