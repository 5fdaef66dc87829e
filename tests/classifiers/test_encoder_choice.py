"""Which encoder kind produces the embeddings a version was fitted on."""

from __future__ import annotations

import pytest

from classifiers.encoder import MODEL_NAME, HashingEncoder
from classifiers.encoder_choice import DEFAULT_KIND, kind_of, load_text_encoder
from classifiers.errors import EncoderUnavailableError
from classifiers.onnx_encoder import ONNX_NAME


def test_each_kind_is_known_by_its_embedding_name() -> None:
    assert kind_of(ONNX_NAME) == "onnx"
    assert kind_of(MODEL_NAME) == "torch"
    assert kind_of(HashingEncoder(384).name) is None


def test_new_versions_are_fitted_on_the_onnx_export_by_default() -> None:
    assert DEFAULT_KIND == "onnx"


def test_the_torch_encoder_without_the_train_extra_names_the_extra(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import classifiers.encoder_choice as choice

    monkeypatch.setattr(choice, "TRAIN_MODULES", ("torch", "no_such_module_for_the_test"))
    with pytest.raises(EncoderUnavailableError, match=r"no_such_module_for_the_test.*\[train\]"):
        load_text_encoder("torch")
