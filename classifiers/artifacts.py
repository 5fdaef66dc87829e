"""Classifier artifacts on disk: a fitted estimator and the manifest that vouches for it.

    models/
      CURRENT               the active version's name, on one line
      <version>/
        estimator.joblib    the pickled estimator, unpickled only if its sha256 matches
        manifest.json       Manifest: encoder, features, library versions, data, metrics, sha256

A version is written into a hidden staging directory beside it and renamed into place whole, so a
reader sees either no version or a complete one. Versions are never overwritten. A staging
directory that a killed save left behind is removed by the first save a day later.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import re
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, cast

import numpy as np

from classifiers.errors import (
    ArtifactError,
    ArtifactIntegrityError,
    ArtifactMismatchError,
    ArtifactNotFoundError,
    RouterError,
)
from classifiers.files import write_bytes_atomic
from classifiers.scorer import Predictor

if TYPE_CHECKING:
    from classifiers.encoder import TextEncoder

FORMAT = 1
ESTIMATOR_FILE = "estimator.joblib"
MANIFEST_FILE = "manifest.json"
CURRENT_FILE = "CURRENT"
LIBRARIES = (
    "numpy",
    "scikit-learn",
    "joblib",
    "sentence-transformers",
    "torch",
    "onnxruntime",
    "tokenizers",
)
STALE_STAGING_S = 24 * 3600

_VERSION_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
_STAGING_SUFFIX = ".partial"
_T = TypeVar("_T")


@dataclass(frozen=True)
class EncoderSpec:
    name: str
    dimension: int
    # sha256 of the encoder's model files (``classifiers.encoder.model_files_sha256``); None where
    # unknown: a stand-in encoder, or a manifest written before it was recorded.
    files_sha256: str | None = None

    @classmethod
    def of(cls, encoder: TextEncoder) -> EncoderSpec:
        return cls(encoder.name, encoder.dimension, encoder.files_sha256)


@dataclass(frozen=True)
class FileDigest:
    file: str
    sha256: str
    bytes: int


@dataclass(frozen=True)
class Manifest:
    """What an artifact was built from and with; ``manifest.json`` is its ``to_dict()``."""

    version: str
    created: str
    encoder: EncoderSpec
    feature_names: tuple[str, ...]
    libraries: Mapping[str, str | None]
    training_data: Mapping[str, Any]
    metrics: Mapping[str, Any]
    artifact: FileDigest
    format: int = FORMAT

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": self.format,
            "version": self.version,
            "created": self.created,
            "encoder": asdict(self.encoder),
            "feature_names": list(self.feature_names),
            "libraries": dict(self.libraries),
            "training_data": dict(self.training_data),
            "metrics": dict(self.metrics),
            "artifact": asdict(self.artifact),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Manifest:
        """Raises ``ValueError`` naming the first missing or mistyped field."""
        encoder = _field(data, "encoder", dict)
        artifact = _field(data, "artifact", dict)
        return cls(
            version=_field(data, "version", str),
            created=_field(data, "created", str),
            encoder=EncoderSpec(
                _field(encoder, "name", str, "encoder."),
                _field(encoder, "dimension", int, "encoder."),
                _optional_field(encoder, "files_sha256", str, "encoder."),
            ),
            feature_names=_strings(_field(data, "feature_names", list), "feature_names"),
            libraries=_libraries(_field(data, "libraries", dict)),
            training_data=_field(data, "training_data", dict),
            metrics=_field(data, "metrics", dict),
            artifact=FileDigest(
                _field(artifact, "file", str, "artifact."),
                _field(artifact, "sha256", str, "artifact."),
                _field(artifact, "bytes", int, "artifact."),
            ),
            format=_field(data, "format", int),
        )


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
    target = directory / _checked_version(directory, version)
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


def read_manifest(version_dir: Path) -> Manifest:
    path = version_dir / MANIFEST_FILE
    if not version_dir.is_dir():
        raise ArtifactNotFoundError(version_dir, "no such artifact version directory")
    data = _read_json_object(path)
    _check_format(path, data.get("format"))
    try:
        manifest = Manifest.from_dict(data)
    except ValueError as exc:
        raise ArtifactIntegrityError(path, f"malformed manifest: {exc}") from exc
    if manifest.version != version_dir.resolve().name:
        raise ArtifactIntegrityError(
            path,
            f"manifest is for version {manifest.version!r}, not {version_dir.resolve().name!r}",
        )
    return manifest


def resolve_version(models_dir: Path, version: str | None) -> Path:
    """The directory of ``version``, or of the version named in ``models_dir/CURRENT``."""
    name = read_current(models_dir) if version is None else version
    version_dir = models_dir / _checked_version(models_dir, name)
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
    name = _checked_version(models_dir, version)
    if not (models_dir / name / MANIFEST_FILE).is_file():
        raise ArtifactNotFoundError(models_dir / name, "no such version to make CURRENT")
    write_bytes_atomic(models_dir / CURRENT_FILE, (name + "\n").encode("utf-8"))
    _fsync(models_dir)


def list_versions(models_dir: Path) -> list[str]:
    """Complete versions in ``models_dir``, sorted by name; staging directories are hidden."""
    if not models_dir.is_dir():
        return []
    return sorted(
        entry.name
        for entry in models_dir.iterdir()
        if _VERSION_NAME.fullmatch(entry.name) and (entry / MANIFEST_FILE).is_file()
    )


def library_versions() -> dict[str, str | None]:
    """Python and the installed versions of the libraries an artifact depends on."""
    versions: dict[str, str | None] = {"python": platform.python_version()}
    versions.update({name: _installed_version(name) for name in LIBRARIES})
    return versions


def _installed_version(distribution: str) -> str | None:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


def _checked_version(where: Path, name: str) -> str:
    if not _VERSION_NAME.fullmatch(name):
        raise ArtifactError(
            where,
            f"invalid version name {name!r}: use letters, digits, '.', '_' and '-',"
            " starting with a letter or digit",
        )
    return name


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
    _fsync(path)
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
    _fsync(target.parent)


def _fsync(path: Path) -> None:
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _read_json_object(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise ArtifactNotFoundError(
            path, "no manifest; not an artifact version directory (or an interrupted save)"
        ) from exc
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ArtifactIntegrityError(path, f"manifest is not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise ArtifactIntegrityError(
            path, f"manifest holds a JSON {type(data).__name__}, not an object"
        )
    return data


def _check_format(path: Path, found: Any) -> None:
    if found != FORMAT or isinstance(found, bool):
        raise ArtifactMismatchError(
            path, f"manifest format {found!r}; this code reads format {FORMAT} only"
        )


def check_encoder(version_dir: Path | str, built_for: EncoderSpec, given: EncoderSpec) -> None:
    """``ArtifactMismatchError`` unless ``given`` is the encoder ``built_for`` names."""
    if built_for.name != given.name:
        raise ArtifactMismatchError(
            version_dir, f"built for encoder {built_for.name!r}, not {given.name!r}"
        )
    if built_for.dimension != given.dimension:
        raise ArtifactMismatchError(
            version_dir,
            f"built for {built_for.dimension}-dimensional embeddings;"
            f" encoder {given.name!r} gives {given.dimension}",
        )
    built, running = built_for.files_sha256, given.files_sha256
    if built is not None and running is not None and built != running:
        raise ArtifactMismatchError(
            version_dir,
            f"built on {built_for.name} model files with sha256 {built[:16]}…, but the installed"
            f" ones have {running[:16]}…: its scores would not mean what they were fitted to;"
            " install the encoder package the project pins, or retrain on this encoder",
        )


def _check_scikit_learn(version_dir: Path, saved_with: str | None) -> None:
    installed = _installed_version("scikit-learn")
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
    import joblib

    try:
        estimator = joblib.load(path)
    except Exception as exc:
        raise ArtifactMismatchError(
            path, f"intact (sha256 matches) but will not unpickle here: {type(exc).__name__}: {exc}"
        ) from exc
    if not callable(getattr(estimator, "predict", None)):
        raise ArtifactMismatchError(
            path, f"holds a {type(estimator).__name__}, which has no predict()"
        )
    return cast(Predictor, estimator)


def _optional_field(
    data: Mapping[str, Any], key: str, kind: type[_T], prefix: str = ""
) -> _T | None:
    return None if data.get(key) is None else _field(data, key, kind, prefix)


def _field(data: Mapping[str, Any], key: str, kind: type[_T], prefix: str = "") -> _T:
    if key not in data:
        raise ValueError(f"missing field '{prefix}{key}'")
    value = data[key]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ValueError(
            f"field '{prefix}{key}' must be {kind.__name__}, not {type(value).__name__}"
        )
    return value


def _strings(values: list[Any], name: str) -> tuple[str, ...]:
    if not all(isinstance(value, str) for value in values):
        raise ValueError(f"field {name!r} must be a list of strings")
    return tuple(values)


def _libraries(values: dict[str, Any]) -> dict[str, str | None]:
    if not all(value is None or isinstance(value, str) for value in values.values()):
        raise ValueError("field 'libraries' must map names to version strings or null")
    return values
