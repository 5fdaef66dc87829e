"""Saving and loading one version: the estimator file and its manifest, whole or not at all.

A version is written into a hidden staging directory beside it and renamed into place whole, so a
reader sees either no version or a complete one. Versions are never overwritten. A staging
directory that a killed save left behind is removed by the first save a day later. Loading checks
the manifest, the encoder, the scikit-learn version and the estimator file's sha256 before it
unpickles anything, and then unpickles only trusted types (``safe_load``): a file that names any
other callable is refused before it is called.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import numpy as np

from classifiers.artifacts.manifest import (
    MANIFEST_FILE,
    EncoderSpec,
    FileDigest,
    Manifest,
    check_encoder,
    installed_version,
    library_versions,
    read_manifest,
)
from classifiers.artifacts.safe_load import UntrustedContentError, safe_load
from classifiers.artifacts.versions import checked_version
from classifiers.errors import (
    ArtifactError,
    ArtifactIntegrityError,
    ArtifactMismatchError,
    ArtifactNotFoundError,
    RouterError,
)
from classifiers.files import fsync
from classifiers.predictor import Predictor

__all__ = ["ESTIMATOR_FILE", "LoadedArtifact", "load_artifact", "load_as_built", "save_artifact"]

ESTIMATOR_FILE = "estimator.joblib"
STALE_STAGING_S = 24 * 3600

_STAGING_SUFFIX = ".partial"


@dataclass(frozen=True)
class LoadedArtifact:
    estimator: Predictor
    manifest: Manifest
    path: Path


def save_artifact(
    directory: Path,
    version: str,
    estimator: Any,
    *,
    encoder_name: str,
    encoder_dimension: int,
    encoder_files_sha256: str | None = None,
    feature_names: Sequence[str],
    training_data: Mapping[str, Any],
    metrics: Mapping[str, Any],
    attach: Callable[[Path, Manifest], None] | None = None,
) -> Manifest:
    """Write ``directory/version/`` whole or not at all; an existing version is never replaced.

    ``attach(folder, manifest)`` may add files (a report, a model card) to the version before it
    is published, so they appear together with the artifact or not at all.
    """
    target = directory / checked_version(directory, version)
    _refuse_existing(target)
    _check_fitted(estimator, target)
    data = _plain(training_data, "training_data", target)
    scores = _plain(metrics, "metrics", target)
    with _translated(target):
        directory.mkdir(parents=True, exist_ok=True)
        with _staging(directory, version) as staging:
            manifest = Manifest(
                version=version,
                created=datetime.now(UTC).isoformat(timespec="seconds"),
                encoder=EncoderSpec(encoder_name, encoder_dimension, encoder_files_sha256),
                feature_names=tuple(feature_names),
                libraries=library_versions(),
                training_data=data,
                metrics=scores,
                artifact=_dump(estimator, staging / ESTIMATOR_FILE),
            )
            _write_json(staging / MANIFEST_FILE, manifest.to_dict())
            if attach is not None:
                attach(staging, manifest)
            _publish(staging, target)
    return manifest


def load_artifact(
    version_dir: Path,
    *,
    encoder_name: str,
    encoder_dimension: int,
    encoder_files_sha256: str | None = None,
) -> LoadedArtifact:
    """The estimator in ``version_dir``, once its manifest, encoder and sha256 all check out.

    The encoder's model files are compared where both sides know their digest.
    """
    manifest = read_manifest(version_dir)
    given = EncoderSpec(encoder_name, encoder_dimension, encoder_files_sha256)
    check_encoder(version_dir, manifest.encoder, given)
    _check_scikit_learn(version_dir, manifest.libraries.get("scikit-learn"))
    estimator_file = _verified_file(version_dir, manifest.artifact)
    return LoadedArtifact(_unpickle(estimator_file), manifest, version_dir)


def load_as_built(version_dir: Path) -> LoadedArtifact:
    """The estimator in ``version_dir`` for the encoder its own manifest names, for offline work
    (training, comparing, benchmarks) that then embeds with that encoder; the scikit-learn and
    sha256 checks of ``load_artifact`` still apply."""
    spec = read_manifest(version_dir).encoder
    return load_artifact(
        version_dir,
        encoder_name=spec.name,
        encoder_dimension=spec.dimension,
        encoder_files_sha256=spec.files_sha256,
    )


def _refuse_existing(target: Path) -> None:
    if target.exists():
        raise ArtifactError(target, "version already exists; versions are immutable, use a new one")


def _check_fitted(estimator: Any, target: Path) -> None:
    if not callable(getattr(estimator, "predict", None)):
        raise ArtifactError(
            target, f"{type(estimator).__name__} has no predict(); not an estimator"
        )
    # scikit-learn and joblib are imported where used: reading a manifest needs neither
    from sklearn.base import BaseEstimator
    from sklearn.exceptions import NotFittedError
    from sklearn.utils.validation import check_is_fitted

    if isinstance(estimator, BaseEstimator):
        try:
            check_is_fitted(estimator)
        except NotFittedError as exc:
            raise ArtifactError(target, f"{type(estimator).__name__} is not fitted") from exc


def _plain(value: Mapping[str, Any], name: str, target: Path) -> dict[str, Any]:
    """``value`` as plain JSON types (numpy scalars and arrays converted), or an ArtifactError."""
    try:
        plain = json.loads(json.dumps(dict(value), default=_json_default))
    except (TypeError, ValueError) as exc:
        raise ArtifactError(target, f"{name} is not JSON-serialisable: {exc}") from exc
    return cast(dict[str, Any], plain)


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic | np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON-serialisable")


@contextmanager
def _translated(target: Path) -> Iterator[None]:
    """Library and OS errors while saving become an ArtifactError about ``target``."""
    try:
        yield
    except RouterError:
        raise
    except Exception as exc:
        raise ArtifactError(target, f"not saved: {type(exc).__name__}: {exc}") from exc


@contextmanager
def _staging(directory: Path, version: str) -> Iterator[Path]:
    """A hidden sibling directory that is gone afterwards, whether or not it was published."""
    _sweep_stale_staging(directory)
    staging = Path(tempfile.mkdtemp(prefix=f".{version}.", suffix=_STAGING_SUFFIX, dir=directory))
    try:
        yield staging
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _sweep_stale_staging(directory: Path) -> None:
    """Remove staging directories a killed save left behind: any a day old (a save takes
    minutes, so none of them can belong to a save still running)."""
    cutoff = time.time() - STALE_STAGING_S
    for entry in directory.glob(f".*{_STAGING_SUFFIX}"):
        with suppress(OSError):  # another save may sweep it first
            if entry.is_dir() and entry.stat().st_mtime < cutoff:
                shutil.rmtree(entry)


def _dump(estimator: Any, path: Path) -> FileDigest:
    import joblib

    joblib.dump(estimator, path)
    fsync(path)
    return _digest(path)


def _digest(path: Path) -> FileDigest:
    with path.open("rb") as stream:
        sha256 = hashlib.file_digest(stream, "sha256").hexdigest()
    return FileDigest(path.name, sha256, path.stat().st_size)


def _write_json(path: Path, data: Mapping[str, Any]) -> None:
    with path.open("w", encoding="utf-8") as stream:
        stream.write(json.dumps(data, indent=2) + "\n")
        stream.flush()
        os.fsync(stream.fileno())


def _publish(staging: Path, target: Path) -> None:
    try:
        os.rename(staging, target)
    except OSError as exc:
        if target.exists():
            raise ArtifactError(target, "version was created by another writer meanwhile") from exc
        raise
    fsync(target.parent)


def _check_scikit_learn(version_dir: Path, saved_with: str | None) -> None:
    installed = installed_version("scikit-learn")
    if saved_with is None:
        raise ArtifactMismatchError(
            version_dir, "manifest records no scikit-learn version, so the pickle cannot be trusted"
        )
    if installed is None:
        raise ArtifactMismatchError(version_dir, "scikit-learn is not installed")
    if _major_minor(saved_with) != _major_minor(installed):
        raise ArtifactMismatchError(
            version_dir,
            f"saved with scikit-learn {saved_with} but {installed} is installed;"
            f" pickles do not cross minor versions: retrain, or install scikit-learn=={saved_with}",
        )


def _major_minor(version: str) -> tuple[str, ...]:
    return tuple(version.split(".")[:2])


def _verified_file(version_dir: Path, expected: FileDigest) -> Path:
    """The estimator file, if it is byte for byte the one the manifest describes."""
    if expected.file in {"", ".", ".."} or Path(expected.file).name != expected.file:
        raise ArtifactIntegrityError(
            version_dir / MANIFEST_FILE, f"artifact.file {expected.file!r} is not a plain file name"
        )
    path = version_dir / expected.file
    if not path.is_file():
        raise ArtifactNotFoundError(path, "estimator file is missing")
    actual = _digest(path)
    if (actual.sha256, actual.bytes) != (expected.sha256, expected.bytes):
        raise ArtifactIntegrityError(
            path,
            f"sha256 {actual.sha256[:16]}… ({actual.bytes} bytes) differs from the manifest's"
            f" {expected.sha256[:16]}… ({expected.bytes} bytes): the file was modified after it"
            " was saved and will not be loaded, because unpickling a file can run any code",
        )
    return path


def _unpickle(path: Path) -> Predictor:
    try:
        estimator = safe_load(path)
    except UntrustedContentError as exc:
        raise ArtifactIntegrityError(
            path, f"{exc}; an estimator file holds only estimators and arrays, so it was not loaded"
        ) from exc
    except Exception as exc:
        raise ArtifactMismatchError(
            path, f"intact (sha256 matches) but will not unpickle here: {type(exc).__name__}: {exc}"
        ) from exc
    if not callable(getattr(estimator, "predict", None)):
        raise ArtifactMismatchError(
            path, f"holds a {type(estimator).__name__}, which has no predict()"
        )
    return cast(Predictor, estimator)
