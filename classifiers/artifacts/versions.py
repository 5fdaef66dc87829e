"""Version names and ``CURRENT``: which versions a models directory holds, and which one serves."""

from __future__ import annotations

import re
from pathlib import Path

from classifiers.artifacts.manifest import MANIFEST_FILE
from classifiers.errors import ArtifactError, ArtifactNotFoundError
from classifiers.files import fsync, write_bytes_atomic

__all__ = [
    "CURRENT_FILE",
    "checked_version",
    "list_versions",
    "read_current",
    "resolve_version",
    "write_current",
]

CURRENT_FILE = "CURRENT"

_VERSION_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")


def resolve_version(models_dir: Path, version: str | None) -> Path:
    """The directory of ``version``, or of the version named in ``models_dir/CURRENT``."""
    name = read_current(models_dir) if version is None else version
    version_dir = models_dir / checked_version(models_dir, name)
    if not version_dir.is_dir():
        available = ", ".join(list_versions(models_dir)) or "none"
        raise ArtifactNotFoundError(version_dir, f"no version {name!r} (available: {available})")
    return version_dir


def read_current(models_dir: Path) -> str:
    path = models_dir / CURRENT_FILE
    try:
        name = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError as exc:
        raise ArtifactNotFoundError(
            path, "no CURRENT file; pass a version explicitly or publish one"
        ) from exc
    if not name:
        raise ArtifactNotFoundError(path, "CURRENT is empty; it should hold a version name")
    return name


def write_current(models_dir: Path, version: str) -> None:
    """Point ``CURRENT`` at ``version``, atomically: readers see the old name or the new one."""
    name = checked_version(models_dir, version)
    if not (models_dir / name / MANIFEST_FILE).is_file():
        raise ArtifactNotFoundError(models_dir / name, "no such version to make CURRENT")
    write_bytes_atomic(models_dir / CURRENT_FILE, (name + "\n").encode("utf-8"))
    fsync(models_dir)


def list_versions(models_dir: Path) -> list[str]:
    """Complete versions in ``models_dir``, sorted by name; staging directories are hidden."""
    if not models_dir.is_dir():
        return []
    return sorted(
        entry.name
        for entry in models_dir.iterdir()
        if _VERSION_NAME.fullmatch(entry.name) and (entry / MANIFEST_FILE).is_file()
    )


def checked_version(where: Path, name: str) -> str:
    """``name`` if it may name a version (a plain file name), else an ArtifactError."""
    if not _VERSION_NAME.fullmatch(name):
        raise ArtifactError(
            where,
            f"invalid version name {name!r}: use letters, digits, '.', '_' and '-',"
            " starting with a letter or digit",
        )
    return name
