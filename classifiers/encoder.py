"""The text encoders: the packaged all-MiniLM-L6-v2 on torch, and a stand-in for tests.

``TextEncoder`` is what the scorer depends on. ``Encoder`` is the original model on torch
(the ``[train]`` extra); ``Encoder.load()`` imports torch and sentence-transformers only when
called, so importing this module stays cheap. The serving default is its int8 ONNX export,
``classifiers.onnx_encoder.OnnxEncoder``; both share their cache and batching
(``classifiers.batched``). ``HashingEncoder`` is a deterministic stand-in for fast tests and
benches of everything else. The model's files and their loading are
``classifiers.packaged_model``'s.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np

from classifiers.batched import BatchedEncoder, CacheStats, Embeddings, stack, text_list
from classifiers.packaged_model import (
    MODEL_NAME,
    PACKAGE,
    load_sentence_transformer,
    model_dimension,
    model_files_sha256,
    packaged_model_path,
    quiet_progress_bars,
    set_torch_threads,
)

__all__ = [
    "MODEL_NAME",
    "PACKAGE",
    "BatchedEncoder",
    "CacheStats",
    "Embeddings",
    "Encoder",
    "HashingEncoder",
    "TextEncoder",
    "model_files_sha256",
    "packaged_model_path",
    "quiet_progress_bars",
]


class TextEncoder(Protocol):
    """Turns texts into L2-normalised float32 rows of width ``dimension``, in input order."""

    @property
    def name(self) -> str: ...

    @property
    def dimension(self) -> int: ...

    @property
    def files_sha256(self) -> str | None:
        """A digest of the model files behind the embeddings; None for a stand-in."""
        ...

    def encode(self, texts: Sequence[str]) -> Embeddings: ...


class SentenceModel(Protocol):
    """The part of ``sentence_transformers.SentenceTransformer`` that ``Encoder`` calls."""

    def encode(
        self,
        inputs: list[str],
        /,
        *,
        batch_size: int,
        show_progress_bar: bool,
        convert_to_numpy: bool,
        normalize_embeddings: bool,
    ) -> Any: ...


class Encoder(BatchedEncoder):
    """A sentence-transformers model with batching and an LRU cache; safe to share across threads.

    Build it with ``Encoder.load()``; the constructor only stores what it is given.
    """

    def __init__(
        self,
        model: SentenceModel,
        *,
        dimension: int,
        name: str = MODEL_NAME,
        batch_size: int = 32,
        cache_size: int = 4096,
        files_sha256: str | None = None,
    ) -> None:
        super().__init__(
            dimension=dimension,
            name=name,
            batch_size=batch_size,
            cache_size=cache_size,
            files_sha256=files_sha256,
        )
        self._model = model

    @classmethod
    def load(
        cls, *, batch_size: int = 32, cache_size: int = 4096, torch_threads: int | None = None
    ) -> Encoder:
        """The packaged all-MiniLM-L6-v2 on CPU, from local files only.

        ``torch_threads`` sets torch's intra-op thread count for the whole process. ``None`` keeps
        torch's default, one per core, under which a forward pass stalls whenever another process
        holds a core (see ``bench/decision_latency.py``).
        """
        if torch_threads is not None and torch_threads < 1:
            raise ValueError(f"torch_threads must be at least 1, got {torch_threads}")
        path = packaged_model_path()
        model = load_sentence_transformer(path)
        if torch_threads is not None:
            set_torch_threads(torch_threads)
        return cls(
            model,
            dimension=model_dimension(model),
            batch_size=batch_size,
            cache_size=cache_size,
            files_sha256=model_files_sha256(path),
        )

    def _forward(self, chunk: list[str]) -> Any:
        return self._model.encode(
            chunk,
            batch_size=self.batch_size,
            show_progress_bar=False,
            convert_to_numpy=True,
            normalize_embeddings=True,
        )


class HashingEncoder:
    """Test and bench stand-in, not a real encoder: hashed character trigram counts.

    Deterministic across processes, no model files, microseconds per text. Texts that share
    spelling land close together, which is all the tests of the layers above need.
    """

    def __init__(self, dimension: int = 384) -> None:
        self._dimension = dimension

    @property
    def name(self) -> str:
        return f"hashing-stand-in-{self._dimension}"

    @property
    def dimension(self) -> int:
        return self._dimension

    @property
    def files_sha256(self) -> str | None:
        return None

    def encode(self, texts: Sequence[str]) -> Embeddings:
        return stack([self._embed_one(text) for text in text_list(texts)], self._dimension)

    def _embed_one(self, text: str) -> Embeddings:
        row = np.zeros(self._dimension, dtype=np.float32)
        padded = f"\x02\x02{text.lower()}\x03\x03"
        for start in range(len(padded) - 2):
            trigram = padded[start : start + 3].encode("utf-8", "surrogatepass")
            row[zlib.crc32(trigram) % self._dimension] += 1.0
        return row / np.float32(np.linalg.norm(row))
