"""What every real encoder shares: input checks, an LRU cache by text, and batched forwards.

``BatchedEncoder.encode`` checks the texts, serves those it has seen from the cache, and sends
the rest (each distinct text once) to ``_forward`` in chunks of ``batch_size``, one chunk at a
time, longest texts first (as sentence-transformers does: a chunk is padded to its longest
text, so texts of like length together waste least). A subclass supplies ``_forward``: the
torch model (``classifiers.encoder.Encoder``) or ONNX Runtime
(``classifiers.onnx_encoder.OnnxEncoder``).

A text that is not valid Unicode (a lone surrogate such as ``"\\ud800"``, which JSON's
``"\\ud800"`` escape produces) cannot be tokenised; it is refused before anything is embedded,
with an ``UnencodableTextError`` naming its index, so callers can drop or report that one text
and embed the rest.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from classifiers.errors import ClassifierError, UnencodableTextError

Embeddings = NDArray[np.float32]


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


class LruCache:
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


class BatchedEncoder:
    """Caching and batching around ``_forward``; safe to share across threads."""

    def __init__(
        self,
        *,
        dimension: int,
        name: str,
        batch_size: int = 32,
        cache_size: int = 4096,
        files_sha256: str | None = None,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        if cache_size < 0:
            raise ValueError(f"cache_size must be 0 (off) or more, got {cache_size}")
        self._dimension = dimension
        self._name = name
        self._files_sha256 = files_sha256
        self.batch_size = batch_size
        self._cache = LruCache(cache_size)
        # One forward at a time: fast tokenizers have raised "Already borrowed" when two threads
        # call one at once (huggingface/tokenizers#537, transformers#47085), and the runtime's
        # own threads already share the cores among the rows of a batch.
        self._model_lock = threading.Lock()

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
        batch = text_list(texts)
        keys = [cache_key(text) for text in batch]
        cached = self._cache.get_many(keys)
        fresh = self._embed_misses(batch, keys, cached)
        rows = [fresh[key] if row is None else row for key, row in zip(keys, cached, strict=True)]
        return stack(rows, self._dimension)

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
        """Rows for ``texts`` in order, computed longest first so each chunk pads little."""
        order = sorted(range(len(texts)), key=lambda index: -len(texts[index]))
        ordered = [texts[index] for index in order]
        step = self.batch_size
        chunks = (ordered[start : start + step] for start in range(0, len(ordered), step))
        rows = [row for chunk in chunks for row in self._checked_forward(chunk)]
        in_order: dict[int, Embeddings] = dict(zip(order, rows, strict=True))
        return [in_order[index] for index in range(len(texts))]

    def _checked_forward(self, chunk: list[str]) -> Embeddings:
        try:
            with self._model_lock:
                raw = self._forward(chunk)
        except Exception as exc:
            raise ClassifierError(
                f"{self._name}: encoding a batch of {len(chunk)} texts failed: {exc}"
            ) from exc
        return checked_rows(self._name, raw, len(chunk), self._dimension)

    def _forward(self, chunk: list[str]) -> Any:
        """Unit rows for ``chunk`` (called under the model lock)."""
        raise NotImplementedError


def text_list(texts: Sequence[str]) -> list[str]:
    """``texts`` as a list, each checked to be a ``str`` that UTF-8 can encode."""
    if isinstance(texts, str):
        raise TypeError("encode takes a sequence of texts; wrap a single text in a list")
    batch = list(texts)
    bad: dict[int, str] = {}
    for index, text in enumerate(batch):
        if not isinstance(text, str):
            raise TypeError(f"texts[{index}] is {type(text).__name__}, not str")
        problem = unencodable(text)
        if problem is not None:
            bad[index] = problem
    if bad:
        raise UnencodableTextError(bad)
    return batch


def unencodable(text: str) -> str | None:
    """Why ``text`` cannot be tokenised (a lone surrogate, and where), or None if it can."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        return f"lone surrogate {text[exc.start]!r} at character {exc.start} is not valid Unicode"
    return None


def cache_key(text: str) -> bytes:
    """Exact-text identity in 32 bytes, so the cache's memory does not grow with prompt length."""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).digest()


def _first_misses(keys: Sequence[bytes], cached: Sequence[Embeddings | None]) -> dict[bytes, int]:
    """Each uncached key once, with the index of its first text."""
    missing: dict[bytes, int] = {}
    for index, (key, row) in enumerate(zip(keys, cached, strict=True)):
        if row is None and key not in missing:
            missing[key] = index
    return missing


def checked_rows(name: str, raw: Any, count: int, dimension: int) -> Embeddings:
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


def stack(rows: list[Embeddings], dimension: int) -> Embeddings:
    if not rows:
        return np.empty((0, dimension), dtype=np.float32)
    return np.stack(rows).astype(np.float32, copy=False)
