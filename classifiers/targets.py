"""The layout of a difficulty target row, shared by the estimator and the labelling code.

Kept apart from ``classifiers.difficulty`` (which imports scikit-learn) so that labelling, and
the CLI commands that read labels, start without importing scikit-learn.
"""

from __future__ import annotations

__all__ = ["GAIN_COLUMN", "GROUPS", "GROUP_COLUMN", "OUTCOME_COLUMN", "TOPIC_COLUMN"]

# Appended, never reordered: a saved version keys its experts by these indices.
GROUPS: tuple[str, ...] = ("chat", "knowledge", "math", "reasoning", "word_math", "code")
GROUP_COLUMN, GAIN_COLUMN, OUTCOME_COLUMN, TOPIC_COLUMN = 0, 1, 2, 3
