"""The rows of ``router logs export``: one JSON line per decision, with its feedback.

A row is a ``records.ExportRow`` in JSON (the schema ``training.logs`` reads): the record's
``EXPORT_FIELDS``, the embedding as base64 of its float16 bytes, the ten text features as a
list, times in ISO 8601 (UTC), and ``feedback`` as a list of the events' ``FEEDBACK_FIELDS``
(``{time, outcome, rating, verifier, source}``), oldest first.

    summary = export_logs(store, Path("logs.jsonl"), since=..., until=...)

The file appears whole or not at all: rows go to a temporary file beside it, which replaces
``path`` only once every row is written and flushed to disk.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from classifiers.files import atomic_text
from records import EXPORT_FIELDS, FEEDBACK_FIELDS
from router.log.store.base import DecisionStore, Logged

__all__ = ["ExportSummary", "export_logs", "export_row"]


@dataclass(frozen=True)
class ExportSummary:
    path: Path
    rows: int
    with_feedback: int


def export_row(logged: Logged) -> dict[str, Any]:
    """One decision and its feedback as a row of the export."""
    row = logged.record.model_dump(mode="json", include=set(EXPORT_FIELDS))
    row["feedback"] = [
        event.model_dump(mode="json", include=set(FEEDBACK_FIELDS)) for event in logged.feedback
    ]
    return row


def export_logs(
    store: DecisionStore,
    path: Path,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
) -> ExportSummary:
    """Write the decisions with ``since <= time < until`` to ``path`` as JSONL, atomically."""
    rows = with_feedback = 0
    with atomic_text(path) as handle:
        for logged in store.logged(since, until):
            handle.write(json.dumps(export_row(logged), ensure_ascii=False) + "\n")
            rows += 1
            with_feedback += bool(logged.feedback)
    return ExportSummary(path, rows, with_feedback)
