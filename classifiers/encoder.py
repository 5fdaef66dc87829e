"""The text encoder: the packaged all-MiniLM-L6-v2, batched, behind a bounded LRU cache.

``TextEncoder`` is what the scorer depends on. ``Encoder`` is the real one; ``Encoder.load()``
imports torch and sentence-transformers only when called, so importing this module stays cheap.
``HashingEncoder`` is a deterministic stand-in for fast tests and benches of everything else.
The model's files and their loading are ``classifiers.packaged_model``'s.
"""

from __future__ import annotations

import hashlib
import threading
import zlib
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray

from classifiers.errors import ClassifierError
from classifiers.packaged_model import (
    MODEL_NAME,
    load_sentence_transformer,
    model_dimension,
    model_files_sha256,
    packaged_model_path,
    set_torch_threads,
)

Embeddings = NDArray[np.float32]


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


@dataclass(frozen=True)
class CacheStats:
    """``misses`` counts texts the model embedded; ``hits`` counts texts served without it."""

    hits: int
    misses: int
    size: int
    capacity: int

    @property
    def hit_rate(self) -> float:
        total = self.hits + self.misses
        return self.hits / total if total else 0.0


class _LruCache:
    """Embedding rows by text digest, least recently used evicted first; capacity 0 stores none."""

    def __init__(self, capacity: int) -> None:
        self._capacity = capacity
        self._rows: OrderedDict[bytes, Embeddings] = OrderedDict()
        self._lock = threading.Lock()
        self._hits = 0
        self._misses = 0

    def get_many(self, keys: Sequence[bytes]) -> list[Embeddings | None]:
        with self._lock:
            return [self._get(key) for key in keys]

    def _get(self, key: bytes) -> Embeddings | None:
        row = self._rows.get(key)
        if row is not None:
            self._rows.move_to_end(key)
        return row

    def put_many(self, items: Iterable[tuple[bytes, Embeddings]]) -> None:
        if self._capacity == 0:
            return
        with self._lock:
            for key, row in items:
                self._rows[key] = _frozen_copy(row)
                self._rows.move_to_end(key)
            while len(self._rows) > self._capacity:
                self._rows.popitem(last=False)

    def record(self, *, hits: int, misses: int) -> None:
        with self._lock:
            self._hits += hits
            self._misses += misses

    def stats(self) -> CacheStats:
        with self._lock:
            return CacheStats(self._hits, self._misses, len(self._rows), self._capacity)

    def clear(self) -> None:
        with self._lock:
            self._rows.clear()


class Encoder:
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
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        if cache_size < 0:
            raise ValueError(f"cache_size must be 0 (off) or more, got {cache_size}")
        self._model = model
        self._dimension = dimension
        self._name = name
        self._files_sha256 = files_sha256
        self.batch_size = batch_size
        self._cache = _LruCache(cache_size)
        # One forward at a time: fast tokenizers have raised "Already borrowed" when two threads
        # call one at once (huggingface/tokenizers#537, transformers#47085), and torch's own
        # threads already share the cores among the rows of a batch.
        self._model_lock = threading.Lock()

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

    @property
    def name(self) -> str:
        return self._name

    @property
    def dimension(self) -> int:
        return self._dimension

    @property
    def files_sha256(self) -> str | None:
        return self._files_sha256

    @property
    def cache_stats(self) -> CacheStats:
        return self._cache.stats()

    def clear_cache(self) -> None:
        self._cache.clear()

    def encode(self, texts: Sequence[str]) -> Embeddings:
        """One unit row per text, in order; only texts not in the cache reach the model."""
        batch = _text_list(texts)
        keys = [_cache_key(text) for text in batch]
        cached = self._cache.get_many(keys)
        fresh = self._embed_misses(batch, keys, cached)
        rows = [fresh[key] if row is None else row for key, row in zip(keys, cached, strict=True)]
        return _stack(rows, self._dimension)

    def _embed_misses(
        self, batch: list[str], keys: list[bytes], cached: list[Embeddings | None]
    ) -> dict[bytes, Embeddings]:
        missing = _first_misses(keys, cached)
        rows = self._embed([batch[index] for index in missing.values()])
        fresh = dict(zip(missing, rows, strict=True))
        self._cache.put_many(fresh.items())
        self._cache.record(hits=len(batch) - len(fresh), misses=len(fresh))
        return fresh

    def _embed(self, texts: list[str]) -> list[Embeddings]:
        step = self.batch_size
        chunks = (texts[start : start + step] for start in range(0, len(texts), step))
        return [row for chunk in chunks for row in self._forward(chunk)]

    def _forward(self, chunk: list[str]) -> Embeddings:
        try:
            with self._model_lock:
                raw = self._model.encode(
                    chunk,
                    batch_size=self.batch_size,
                    show_progress_bar=False,
                    convert_to_numpy=True,
                    normalize_embeddings=True,
                )
        except Exception as exc:
            raise ClassifierError(
                f"{self._name}: encoding a batch of {len(chunk)} texts failed: {exc}"
            ) from exc
        return _checked_rows(self._name, raw, len(chunk), self._dimension)


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
        return _stack([self._embed_one(text) for text in _text_list(texts)], self._dimension)

    def _embed_one(self, text: str) -> Embeddings:
        row = np.zeros(self._dimension, dtype=np.float32)
        padded = f"\x02\x02{text.lower()}\x03\x03"
        for start in range(len(padded) - 2):
            trigram = padded[start : start + 3].encode("utf-8", "surrogatepass")
            row[zlib.crc32(trigram) % self._dimension] += 1.0
        return row / np.float32(np.linalg.norm(row))


def _text_list(texts: Sequence[str]) -> list[str]:
    if isinstance(texts, str):
        raise TypeError("encode takes a sequence of texts; wrap a single text in a list")
    batch = list(texts)
    for index, text in enumerate(batch):
        if not isinstance(text, str):
            raise TypeError(f"texts[{index}] is {type(text).__name__}, not str")
    return batch


def _cache_key(text: str) -> bytes:
    """Exact-text identity in 32 bytes, so the cache's memory does not grow with prompt length."""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).digest()


def _first_misses(keys: Sequence[bytes], cached: Sequence[Embeddings | None]) -> dict[bytes, int]:
    """Each uncached key once, with the index of its first text."""
    missing: dict[bytes, int] = {}
    for index, (key, row) in enumerate(zip(keys, cached, strict=True)):
        if row is None and key not in missing:
            missing[key] = index
    return missing


def _checked_rows(name: str, raw: Any, count: int, dimension: int) -> Embeddings:
    rows = np.asarray(raw, dtype=np.float32)
    if rows.shape != (count, dimension):
        raise ClassifierError(
            f"{name}: expected embeddings of shape ({count}, {dimension}), got {rows.shape}"
        )
    return rows


def _frozen_copy(row: Embeddings) -> Embeddings:
    """A read-only row that owns its memory, so a cached row does not pin its whole batch."""
    copy = row.copy()
    copy.setflags(write=False)
    return copy


def _stack(rows: list[Embeddings], dimension: int) -> Embeddings:
    if not rows:
        return np.empty((0, dimension), dtype=np.float32)
    return np.stack(rows).astype(np.float32, copy=False)
