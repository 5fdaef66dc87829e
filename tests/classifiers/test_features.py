from __future__ import annotations

import numpy as np

from classifiers.features import FEATURE_NAMES, build_features, text_features


def test_one_value_per_feature_name() -> None:
    assert len(text_features("What is 2 + 2?")) == len(FEATURE_NAMES)


def test_maths_and_choices_are_counted() -> None:
    named = dict(
        zip(FEATURE_NAMES, text_features("Solve $x^2 = 4$.\nA. 2\nB. -2\nC. 4"), strict=True)
    )
    plain = dict(zip(FEATURE_NAMES, text_features("hello there"), strict=True))

    assert named["log_latex"] > plain["log_latex"]
    assert named["log_numbers"] > plain["log_numbers"]
    assert named["choices"] == 1.0 and plain["choices"] == 0.0


def test_build_features_appends_to_each_embedding() -> None:
    embeddings = np.ones((2, 4), dtype=np.float32)
    X = build_features(["a", "b c"], embeddings)

    assert X.shape == (2, 4 + len(FEATURE_NAMES))
    assert np.array_equal(X[:, :4], embeddings)
