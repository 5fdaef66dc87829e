"""Synthetic rows in the user data format (docs/data.md), written by the tests themselves."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

TOPICS = ("geometry proof", "greeting", "tax question", "recursion bug", "poem request")


def user_rows(n: int = 300, *, seed: int = 0) -> Iterator[dict[str, Any]]:
    """``n`` rows: two thirds true/false outcomes, the rest graded scores; every tenth row is
    prompt-only with a seed domain. Longer, maths-like prompts are the ones the weak setting
    misses, so a fit has something to find."""
    rng = random.Random(seed)
    for i in range(n):
        hard = i % 2 == 0
        topic = TOPICS[i % len(TOPICS)]
        words = " step" * (30 if hard else 2)
        row: dict[str, Any] = {"id": f"u{i}", "prompt": f"{topic} number {i}:{words}"}
        if i % 10 == 9:
            row["domain"] = "competition_math" if hard else "smalltalk_simple"
        elif i % 3 == 2:
            row["weak"] = round(rng.uniform(0.0, 0.4) if hard else rng.uniform(0.6, 1.0), 2)
            row["strong"] = round(rng.uniform(0.7, 1.0), 2)
        else:
            row["weak"] = rng.random() < (0.2 if hard else 0.9)
            row["strong"] = rng.random() < 0.9
        yield row


def write_user_file(path: Path, rows: Iterator[dict[str, Any]] | list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path
