from __future__ import annotations

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

from classifiers.lexical import LexicalGain

SUBJECTS = ("tax law", "river deltas", "enzyme kinetics", "baroque music", "tidal power")


def cue_data() -> tuple[list[str], np.ndarray]:
    """Questions saying EXCEPT are the ones the stronger model wins (+1); the rest are ties (0),
    and a few the weaker model wins (-1)."""
    texts, outcomes = [], []
    for i in range(120):
        subject = SUBJECTS[i % len(SUBJECTS)]
        if i % 3 == 0:
            texts.append(f"All of these describe {subject} EXCEPT which one?")
            outcomes.append(1)
        elif i % 7 == 0:
            texts.append(f"Name the oldest idea in {subject}, briefly.")
            outcomes.append(-1)
        else:
            texts.append(f"Which statement about {subject} is true?")
            outcomes.append(0)
    return texts, np.array(outcomes)


def test_fit_returns_self_and_init_only_stores_parameters() -> None:
    texts, outcomes = cue_data()
    model = LexicalGain(c=2.0, max_ngram=1, min_df=1)

    assert vars(model) == model.get_params()
    assert clone(model).get_params() == model.get_params()
    assert model.fit(texts, outcomes) is model
    assert {"vectorizer_", "model_"} <= set(vars(model))


def test_gain_learns_the_words_that_mark_a_gain() -> None:
    texts, outcomes = cue_data()
    model = LexicalGain(c=10.0).fit(texts, outcomes)

    gains = model.gain(
        ["Every one of these fits tidal power EXCEPT which?", "Which statement about tides?"]
    )

    assert gains[0] > 0.5
    assert gains[0] - gains[1] > 0.5


def test_gain_is_scikit_learns_predict_proba_arithmetic() -> None:
    texts, outcomes = cue_data()
    model = LexicalGain(min_df=1).fit(texts, outcomes)
    unseen = ["EXCEPT tax law", "words it never saw", "", "Which statement about enzyme kinetics?"]

    proba = model.model_.predict_proba(model.vectorizer_.transform(unseen))
    classes = list(model.model_.classes_)
    expected = proba[:, classes.index(1)] - proba[:, classes.index(-1)]

    np.testing.assert_allclose(model.gain(unseen), expected, atol=1e-12)


def test_binary_outcomes_give_the_gain_of_the_positive_class() -> None:
    texts, outcomes = cue_data()
    binary = np.maximum(outcomes, 0)
    model = LexicalGain(min_df=1).fit(texts, binary)

    expected = model.model_.predict_proba(model.vectorizer_.transform(texts[:5]))[:, 1]

    np.testing.assert_allclose(model.gain(texts[:5]), expected, atol=1e-12)


def test_gain_before_fit_and_mismatched_lengths_are_refused() -> None:
    with pytest.raises(NotFittedError):
        LexicalGain().gain(["anything"])
    with pytest.raises(ValueError, match="3 texts for 2 outcomes"):
        LexicalGain().fit(["a", "b", "c"], [0, 1])
