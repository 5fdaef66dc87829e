"""The version a retrain starts from: its manifest and estimator, checked to be one that logged
rows can train, and the hyperparameters the candidate inherits from it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from classifiers.artifacts.manifest import Manifest
from classifiers.artifacts.store import LoadedArtifact, load_as_built
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
        loaded = load_as_built(resolve_version(models_dir, version))
        return cls(loaded.manifest, base_estimator(loaded))


def base_estimator(loaded: LoadedArtifact) -> DifficultyEstimator:
    version_dir, manifest, estimator = loaded.path, loaded.manifest, loaded.estimator
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
