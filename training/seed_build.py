"""Rebuild a seed file from the public sources' raw files, as their publishers ship them.

The shipped classifier was trained on a seed file (docs/data.md lists every source, its origin,
licence and the label it contributes). That file is not redistributed; ``build_seed`` writes one
in the same format (``training.datasets.SeedRow``) from the raw files a user has downloaded, laid
out under one folder, one subfolder per source::

    RAW/gsm8k/train.jsonl                  openai/grade-school-math  grade_school_math/data/
    RAW/math/train/<subject>/<n>.json      hendrycks/math            MATH/ (train and/or test)
    RAW/routellm_mmlu/mmlu_<subject>.csv   lm-sys/RouteLLM           routellm/evals/mmlu/responses/
    RAW/nq_open/NQ-open.train.jsonl        google-research-datasets/natural-questions  nq_open/
    RAW/arc/ARC-Easy-Train.jsonl           allenai ARC-V1-Feb2018 (ARC-Easy/, ARC-Challenge/)
    RAW/arc/ARC-Challenge-Train.jsonl
    RAW/humaneval/HumanEval.jsonl.gz       openai/human-eval         data/
    RAW/mbpp/mbpp.jsonl                    google-research/mbpp

A source whose folder is missing is skipped and reported; any ``*.jsonl``/``*.json``/``*.csv``
under its folder is read, so other splits can be added. What the builder does *not* rebuild: the
other sources of the shipped file (MAWPS, RouterBench, CLINC150, the chat prompt sets, Arena-Hard,
arena-bench, LiveCodeBench) and the RouterDC scores added to some rows, and it keeps every row of
a file where the shipped file kept a sample; docs/data.md says so per source.

A malformed raw row is a ``RowError`` naming the file, its line (or JSON file) and the field.
"""

from __future__ import annotations

import csv
import gzip
import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from classifiers.errors import DataError, RowError
from classifiers.files import write_bytes_atomic
from training.label_tables import STRONG_MODEL, WEAK_MODEL

__all__ = ["SOURCES", "BuildReport", "Source", "build_seed"]

RawRow = tuple[str, dict[str, Any]]  # (prompt, labels)


@dataclass(frozen=True)
class Source:
    """One public source: where its raw files sit under RAW, and how a row becomes a prompt."""

    name: str
    folder: str
    domain: str
    licence: str
    patterns: tuple[str, ...]
    read: Callable[[Path], Iterator[RawRow]]
    keep: Callable[[Path], bool] = lambda _: True


@dataclass(frozen=True)
class BuildReport:
    rows_by_source: dict[str, int]
    missing: tuple[str, ...]  # folders not found under RAW


def build_seed(
    raw_dir: Path, out: Path, *, on_source: Callable[[str, int | None], None] | None = None
) -> BuildReport:
    """Read every supported source under ``raw_dir`` and write the seed JSONL to ``out`` (whole
    or not at all); ``on_source(name, rows)`` hears each source as it is done (None: missing)."""
    if not raw_dir.is_dir():
        raise DataError(f"{raw_dir}: not a folder (the raw sources go in one folder each)")
    lines: list[str] = []
    counts: dict[str, int] = {}
    missing: list[str] = []
    for source in SOURCES:
        folder = raw_dir / source.folder
        if not folder.is_dir():
            if source.folder not in missing:
                missing.append(source.folder)
            if on_source is not None:
                on_source(source.name, None)
            continue
        rows = list(_rows(source, folder))
        lines += [_line(source, n, prompt, labels) for n, (prompt, labels) in enumerate(rows)]
        counts[source.name] = len(rows)
        if on_source is not None:
            on_source(source.name, len(rows))
    if not lines:
        raise DataError(f"{raw_dir}: none of the sources' folders holds a row (docs/data.md)")
    write_bytes_atomic(out, "".join(lines).encode("utf-8"))
    return BuildReport(counts, tuple(missing))


def _rows(source: Source, folder: Path) -> Iterator[RawRow]:
    files = sorted({f for pattern in source.patterns for f in folder.rglob(pattern)})
    for path in files:
        if source.keep(path):
            yield from source.read(path)


def _line(source: Source, n: int, prompt: str, labels: Mapping[str, Any]) -> str:
    row = {
        "id": f"{source.name}:{n}",
        "source": source.name,
        "domain": source.domain,
        "prompt": prompt,
        "labels": dict(labels),
        "licence": source.licence,
    }
    return json.dumps(row, ensure_ascii=False) + "\n"


# --- readers -----------------------------------------------------------------------------------


def _jsonl(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as handle:
        for number, text in enumerate(handle, start=1):
            if not text.strip():
                continue
            try:
                value = json.loads(text)
            except json.JSONDecodeError as exc:
                raise RowError(path, number, f"not valid JSON: {exc.msg}") from exc
            if not isinstance(value, dict):
                raise RowError(path, number, "expected a JSON object")
            yield number, value


def _text(obj: Mapping[str, Any], field: str, path: Path, line: int) -> str:
    value = obj.get(field)
    if not isinstance(value, str) or not value.strip():
        raise RowError(path, line, f"field '{field}' must be non-empty text")
    return value


def _gsm8k(path: Path) -> Iterator[RawRow]:
    for line, obj in _jsonl(path):
        yield _text(obj, "question", path, line), {}


def _math(path: Path) -> Iterator[RawRow]:
    try:
        obj = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise RowError(path, 1, f"not a readable JSON file: {exc}") from exc
    labels: dict[str, Any] = {"type": str(obj.get("type", ""))}
    level = str(obj.get("level", "")).removeprefix("Level ").strip()
    if level.isdigit() and 1 <= int(level) <= 5:  # MATH has a few "Level ?" problems
        labels["level"] = int(level)
    yield _text(obj, "problem", path, 1), labels


def _routellm_mmlu(path: Path) -> Iterator[RawRow]:
    subject = path.stem.removeprefix("mmlu_")
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        weak = _column(reader.fieldnames, "mixtral-8x7b-instruct-v0.1", path)
        strong = _column(reader.fieldnames, STRONG_MODEL, path)
        for line, record in enumerate(reader, start=2):
            correct = {
                WEAK_MODEL: _boolean(record, weak, path, line),
                STRONG_MODEL: _boolean(record, strong, path, line),
            }
            prompt = _text(record, "prompt", path, line)
            yield prompt, {"subject": subject, "correct": correct}


def _column(names: Iterable[str] | None, model: str, path: Path) -> str:
    for name in names or ():
        if name.lower().endswith(model.lower()):
            return name
    raise RowError(path, 1, f"no column for model '{model}' (columns: {', '.join(names or ())})")


def _boolean(record: Mapping[str, Any], column: str, path: Path, line: int) -> bool:
    value = str(record.get(column, "")).strip().lower()
    if value not in ("true", "false"):
        raise RowError(path, line, f"field '{column}' must be True or False, got {value!r}")
    return value == "true"


def _nq_open(path: Path) -> Iterator[RawRow]:
    for line, obj in _jsonl(path):
        answers = obj.get("answer", [])
        yield _text(obj, "question", path, line), {"answer": list(answers)}


def _arc(path: Path) -> Iterator[RawRow]:
    for line, obj in _jsonl(path):
        question = obj.get("question")
        if not isinstance(question, dict):
            raise RowError(path, line, "field 'question' must be an object with 'stem'")
        yield f"Question:{_text(question, 'stem', path, line)}\nAnswer:", {}


def _humaneval(path: Path) -> Iterator[RawRow]:
    for line, obj in _jsonl(path):
        yield _text(obj, "prompt", path, line), {}


def _mbpp(path: Path) -> Iterator[RawRow]:
    for line, obj in _jsonl(path):
        tests = obj.get("test_list") or []
        first_test = f"{tests[0]}\n" if tests and isinstance(tests[0], str) else ""
        yield f'"""\n{_text(obj, "text", path, line)}\n{first_test}"""\n', {}


def _arc_set(name: str) -> Callable[[Path], bool]:
    return lambda path: path.name.lower().startswith(f"arc-{name}-")


SOURCES: Final[tuple[Source, ...]] = (
    Source("routellm_mmlu", "routellm_mmlu", "knowledge_mc",
           "MIT (MMLU); labels Apache-2.0 (RouteLLM)", ("*.csv",), _routellm_mmlu),
    Source("gsm8k", "gsm8k", "grade_school_math", "MIT", ("*.jsonl",), _gsm8k),
    Source("math_hendrycks", "math", "competition_math", "MIT", ("*.json",), _math),
    Source("nq_open", "nq_open", "factoid", "CC-BY-SA-3.0", ("*.jsonl",), _nq_open),
    Source("arc_easy", "arc", "science_mc", "CC-BY-SA-4.0 (ARC)", ("*.jsonl",), _arc,
           _arc_set("easy")),
    Source("arc_challenge", "arc", "science_mc", "CC-BY-SA-4.0 (ARC)", ("*.jsonl",), _arc,
           _arc_set("challenge")),
    Source("humaneval", "humaneval", "code", "MIT (HumanEval)", ("*.jsonl", "*.jsonl.gz"),
           _humaneval),
    Source("mbpp", "mbpp", "code", "CC-BY-4.0 (MBPP)", ("*.jsonl",), _mbpp),
)  # fmt: skip
