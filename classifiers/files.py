"""Files that appear whole or not at all: written beside their target, then renamed over it."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

__all__ = ["atomic_binary", "atomic_text", "fsync", "write_bytes_atomic"]


@contextmanager
def atomic_text(path: Path) -> Iterator[IO[str]]:
    """A UTF-8 text file that replaces ``path`` only if the block completes."""
    with _staged(path) as staged, staged.open("w", encoding="utf-8") as handle:
        yield handle
        _sync(handle)


@contextmanager
def atomic_binary(path: Path) -> Iterator[IO[bytes]]:
    """A binary file that replaces ``path`` only if the block completes."""
    with _staged(path) as staged, staged.open("wb") as handle:
        yield handle
        _sync(handle)


def write_bytes_atomic(path: Path, data: bytes) -> Path:
    with atomic_binary(path) as handle:
        handle.write(data)
    return path


def fsync(path: Path) -> None:
    """Flush ``path`` (a file, or a directory after a rename in it) to disk."""
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


@contextmanager
def _staged(path: Path) -> Iterator[Path]:
    """A temporary path beside ``path``, renamed over it when the block completes."""
    descriptor, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(descriptor)
    staged = Path(name)
    try:
        yield staged
        staged.chmod(0o666 & ~_umask())
        staged.replace(path)
    except BaseException:
        staged.unlink(missing_ok=True)
        raise


def _sync(handle: IO[str] | IO[bytes]) -> None:
    handle.flush()
    os.fsync(handle.fileno())


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
