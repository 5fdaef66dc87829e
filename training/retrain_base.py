"""The version a retrain starts from: its manifest and estimator, checked to be one that logged
rows can train, and the hyperparameters the candidate inherits from it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from classifiers.artifacts.manifest import Manifest, read_manifest
from classifiers.artifacts.store import load_artifact
from classifiers.artifacts.versions import resolve_version
from classifiers.difficulty import DifficultyEstimator
from classifiers.errors import ArtifactMismatchError
from classifiers.features import FEATURE_NAMES


@dataclass(frozen=True)
class BaseVersion:
    """The version the candidate is compared against, and its estimator."""

    manifest: Manifest
    estimator: DifficultyEstimator

    @classmethod
    def load(cls, models_dir: Path, version: str | None) -> BaseVersion:
        version_dir = resolve_version(models_dir, version)
        manifest = read_manifest(version_dir)
        return cls(manifest, base_estimator(version_dir, manifest))


def base_estimator(version_dir: Path, manifest: Manifest) -> DifficultyEstimator:
    spec = manifest.encoder
    loaded = load_artifact(
        version_dir,
        encoder_name=spec.name,
        encoder_dimension=spec.dimension,
        encoder_files_sha256=spec.files_sha256,
    )
    estimator = loaded.estimator
    if not isinstance(estimator, DifficultyEstimator):
        raise ArtifactMismatchError(
            version_dir,
            f"holds a {type(estimator).__name__}; retraining from logs needs a"
            " DifficultyEstimator (its gate assigns logged prompts to groups)",
        )
    if tuple(manifest.feature_names) != FEATURE_NAMES:
        raise ArtifactMismatchError(
            version_dir,
            f"fitted on features {list(manifest.feature_names)}; logged rows carry the"
            f" embedding and {list(FEATURE_NAMES)}",
        )
    return estimator


def hyperparameters(manifest: Manifest, base: DifficultyEstimator) -> dict[str, Any]:
    """The base manifest's estimator parameters; the base's own, or today's defaults, for any
    parameter it predates (an estimator unpickled from an older version lacks the attribute)."""
    recorded = manifest.metrics.get("estimator", {})
    return {
        name: recorded.get(name, getattr(base, name, default))
        for name, default in DifficultyEstimator().get_params().items()
    }
