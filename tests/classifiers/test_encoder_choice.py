"""Which encoder kind produces the embeddings a version was fitted on."""

from __future__ import annotations

from classifiers.encoder import MODEL_NAME, HashingEncoder
from classifiers.encoder_choice import DEFAULT_KIND, kind_of
from classifiers.onnx_encoder import ONNX_NAME


def test_each_kind_is_known_by_its_embedding_name() -> None:
    assert kind_of(ONNX_NAME) == "onnx"
    assert kind_of(MODEL_NAME) == "torch"
    assert kind_of(HashingEncoder(384).name) is None


def test_new_versions_are_fitted_on_the_onnx_export_by_default() -> None:
    assert DEFAULT_KIND == "onnx"
