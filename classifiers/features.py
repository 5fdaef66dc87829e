"""Cheap text features that sit beside the embedding in the estimator's input.

MiniLM embeds what a prompt is about, not how much work it asks for: it truncates at 256 word
pieces and its mean pooling washes out length, the number of quantities and mathematical notation.
These counts put that back, on a log scale so long prompts do not dominate.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache

import numpy as np

_NUMBER = re.compile(r"\d+(?:[.,]\d+)?")
_LATEX = re.compile(r"\$|\\[a-zA-Z]+|\^|_\{")
_CODE = re.compile(r"\bdef |\breturn\b|\bclass |[{};]|==|```|\bimport\b")
_SENTENCE_END = re.compile(r"[.!?](?:\s|$)")
_CHOICE = re.compile(r"^\s*\(?[A-Ea-e][.)]\s", re.MULTILINE)
_NEGATION = re.compile(r"\b(?:not|except|least|false|incorrect)\b", re.IGNORECASE)

FEATURE_NAMES: tuple[str, ...] = (
    "log_chars",
    "log_words",
    "log_numbers",
    "log_latex",
    "log_code",
    "log_sentences",
    "log_lines",
    "choices",
    "negations",
    "question_marks",
)


def text_features(text: str) -> list[float]:
    """The features named in ``FEATURE_NAMES`` for one text."""
    return list(_cached_features(text))


# A decision needs a text's features twice, for its score and for its log record; on a long
# prompt each computation costs 0.25 ms.
@lru_cache(maxsize=256)
def _cached_features(text: str) -> tuple[float, ...]:
    counts = (
        len(text),
        len(text.split()),
        len(_NUMBER.findall(text)),
        len(_LATEX.findall(text)),
        len(_CODE.findall(text)),
        len(_SENTENCE_END.findall(text)),
        text.count("\n"),
    )
    logs = [float(np.log1p(count)) for count in counts]
    return (
        *logs,
        float(len(_CHOICE.findall(text)) >= 2),
        float(len(_NEGATION.findall(text)) > 0),
        float(np.log1p(text.count("?"))),
    )


def build_features(texts: Sequence[str], embeddings: np.ndarray) -> np.ndarray:
    """The estimator's input: each embedding followed by its text's features."""
    extra = np.asarray([text_features(text) for text in texts], dtype=np.float32)
    extra = extra.reshape(len(texts), len(FEATURE_NAMES))
    return np.hstack([np.asarray(embeddings, dtype=np.float32), extra])
