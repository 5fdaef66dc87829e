"""The lexical estimate of the gain from escalating: word n-grams in, E[gain] out.

MiniLM reads the first 256 word pieces and pools them into what a prompt is about; the outcome of a
multiple-choice question also turns on its exact words ("EXCEPT", "Statement 1 | Statement 2",
units, a named case), and on choices that a long passage pushes past the encoder's window. A
TF-IDF logistic regression over word 1-2-grams reads all of the text. It learns the same net
outcome class as ``classifiers.difficulty``'s outcome expert, which averages it in as a third
estimate beside its embedding and topic estimates.

It needs the prompt's text, which the decision log does not keep, so it is fitted on seed rows
only and a version retrained from the log carries its base's over unchanged.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any, Self

import numpy as np
from numpy.typing import NDArray
from scipy.special import expit, softmax
from sklearn.base import BaseEstimator
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.utils.validation import check_is_fitted


class LexicalGain(BaseEstimator):  # type: ignore[misc]
    """E[gain] = P(+1 | text) - P(-1 | text) over the net outcome class, from word n-grams."""

    def __init__(self, c: float = 1.0, max_ngram: int = 2, min_df: int = 2) -> None:
        self.c = c
        self.max_ngram = max_ngram
        self.min_df = min_df

    def fit(self, texts: Sequence[str], outcomes: Any, sample_weight: Any = None) -> Self:
        outcomes = np.asarray(outcomes, dtype=int)
        if len(texts) != len(outcomes):
            raise ValueError(f"{len(texts)} texts for {len(outcomes)} outcomes")
        self.vectorizer_ = TfidfVectorizer(
            ngram_range=(1, self.max_ngram), min_df=self.min_df, sublinear_tf=True
        )
        counts = self.vectorizer_.fit_transform(texts)
        self.model_ = LogisticRegression(C=self.c, max_iter=3000)
        self.model_.fit(counts, outcomes, sample_weight=sample_weight)
        return self

    def gain(self, texts: Sequence[str]) -> NDArray[np.float64]:
        """``P(+1) - P(-1)`` per text.

        The same arithmetic as ``model_.predict_proba(vectorizer_.transform(texts))``, one text's
        n-grams at a time: scikit-learn's sparse matrices and input checks cost 0.6 ms for one
        short prompt, ten times the arithmetic, on the path of every routing decision.
        """
        check_is_fitted(self)
        analyze = self.vectorizer_.build_analyzer()
        logits = np.vstack([self._logits(analyze(text)) for text in texts]).reshape(len(texts), -1)
        return net_gain(linear_softmax(logits), self.model_.classes_)

    def _logits(self, grams: list[str]) -> NDArray[np.float64]:
        """One text's logits: sublinear tf times idf, L2-normalised, through the linear model."""
        vocabulary = self.vectorizer_.vocabulary_
        counts = Counter(index for gram in grams if (index := vocabulary.get(gram)) is not None)
        coef = self.model_.coef_
        if not counts:
            return np.asarray(self.model_.intercept_, dtype=np.float64)
        columns = np.fromiter(counts.keys(), dtype=np.int64, count=len(counts))
        tf = 1.0 + np.log(np.fromiter(counts.values(), dtype=np.float64, count=len(counts)))
        weights = tf * self.vectorizer_.idf_[columns]
        weights /= np.linalg.norm(weights)
        return np.asarray(coef[:, columns] @ weights + self.model_.intercept_, dtype=np.float64)


def net_gain(proba: NDArray[np.float64], classes: Any) -> NDArray[np.float64]:
    """E[gain] = P(+1) - P(-1), from class probabilities over the net outcome ``classes``."""
    classes = list(classes)
    up = proba[:, classes.index(1)] if 1 in classes else 0.0
    down = proba[:, classes.index(-1)] if -1 in classes else 0.0
    return np.asarray(up - down, dtype=np.float64)


def linear_softmax(logits: NDArray[np.float64]) -> NDArray[np.float64]:
    """Class probabilities from a linear model's logits; one column means a binary model."""
    if logits.shape[1] == 1:
        positive = expit(logits[:, 0])
        return np.column_stack([1.0 - positive, positive])
    return np.asarray(softmax(logits, axis=1), dtype=np.float64)
