"""The service overhead bench's models and policy: what each encoder's service serves.

``classifier`` gives the models directory for one encoder (the shipped version, or its estimator
re-saved for another encoder, or a random stand-in Ridge); ``write_policy`` the two-tier policy
whose tiers all point at the bench upstream.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import yaml

from records import Price

UPSTREAM_MODEL = "bench-model"
BENCH_PRICE = Price(input_per_mtok=0.15, output_per_mtok=0.6)


def classifier(scratch: Path, encoder: str) -> tuple[Path, str]:
    """The models directory the service for ``encoder`` serves from, and what it holds."""
    from classifiers.artifacts.manifest import read_manifest
    from classifiers.artifacts.versions import resolve_version
    from classifiers.encoder_choice import kind_of
    from classifiers.errors import ArtifactNotFoundError
    from router.settings import SHIPPED_MODELS_DIR

    models_dir = scratch / f"models-{encoder}"
    try:
        version_dir = resolve_version(SHIPPED_MODELS_DIR, None)
    except ArtifactNotFoundError:
        _publish_stand_in(models_dir, encoder)
        return models_dir, f"STAND-IN Ridge fitted on random rows (no models/CURRENT), {encoder}"
    built_for = read_manifest(version_dir).encoder
    if encoder != "hashing" and kind_of(built_for.name) == encoder:
        return SHIPPED_MODELS_DIR, f"shipped model {version_dir.name} from {SHIPPED_MODELS_DIR}"
    _republish(version_dir, models_dir, encoder)
    return models_dir, (
        f"the estimator of shipped {version_dir.name} (fitted on {built_for.name}) re-saved for"
        f" the {encoder} encoder: timing only"
    )


def _encoder_spec(encoder: str) -> tuple[str, int, str | None]:
    from classifiers.encoder import MODEL_NAME, HashingEncoder

    if encoder == "onnx":
        from classifiers.encoder import model_files_sha256
        from classifiers.onnx_encoder import ENCODERS_DIR, ONNX_DIR_NAME, ONNX_NAME

        return ONNX_NAME, 384, model_files_sha256(ENCODERS_DIR / ONNX_DIR_NAME)
    if encoder == "torch":
        return MODEL_NAME, 384, None
    return HashingEncoder(384).name, 384, None


def _republish(version_dir: Path, models_dir: Path, encoder: str) -> None:
    from classifiers.artifacts.store import load_as_built, save_artifact
    from classifiers.artifacts.versions import write_current

    if encoder == "hashing":
        _publish_stand_in(models_dir, encoder)
        return
    artifact = load_as_built(version_dir)
    name, dimension, files_sha256 = _encoder_spec(encoder)
    save_artifact(
        models_dir,
        "bench-timing",
        artifact.estimator,
        encoder_name=name,
        encoder_dimension=dimension,
        encoder_files_sha256=files_sha256,
        feature_names=artifact.manifest.feature_names,
        training_data={"note": f"the estimator of {version_dir.name}, for timing only"},
        metrics={},
    )
    write_current(models_dir, "bench-timing")


def _publish_stand_in(models_dir: Path, encoder: str) -> None:
    from sklearn.linear_model import Ridge

    from classifiers.artifacts.store import save_artifact
    from classifiers.artifacts.versions import write_current

    name, dimension, files_sha256 = _encoder_spec(encoder)
    rng = np.random.default_rng(0)
    rows = rng.normal(size=(256, dimension))
    estimator = Ridge(alpha=1.0).fit(rows, rng.uniform(size=256))
    save_artifact(
        models_dir,
        "bench-stand-in",
        estimator,
        encoder_name=name,
        encoder_dimension=dimension,
        encoder_files_sha256=files_sha256,
        feature_names=[],
        training_data={"rows": 256, "source": "random"},
        metrics={},
    )
    write_current(models_dir, "bench-stand-in")


def write_policy(scratch: Path, upstream_url: str) -> Path:
    """Two tiers, both answered by the bench upstream, no thinking: the overhead alone.

    The model is priced, as every model a service pays for is (by litellm's list or the
    policy): litellm's search for the price of a model it does not know costs ~3 ms of CPU a
    call, which would be a cost of the bench's made-up model name, not of the router."""

    def tier(name: str, band: list[float]) -> dict[str, Any]:
        return {
            "name": name,
            "band": band,
            "model": f"openai/{UPSTREAM_MODEL}",
            "api_base": upstream_url,
            "budget": {"max_tokens": 256},
            "timeout_s": 30,
            "price": BENCH_PRICE.model_dump(),
        }

    policy = {"version": "bench-1", "tiers": [tier("low", [0.0, 0.5]), tier("high", [0.5, 1.0])]}
    path = scratch / "policy.yaml"
    path.write_text(yaml.safe_dump(policy), encoding="utf-8")
    return path
