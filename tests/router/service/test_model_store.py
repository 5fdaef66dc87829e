"""ModelStore: loading, the atomic swap on reload, and what a failed reload leaves behind."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from classifiers.encoder import HashingEncoder, TextEncoder
from router.errors import ArtifactNotFoundError, PolicyError, ServiceNotReadyError
from router.service.model_store import ModelStore
from router.settings import Settings
from tests.router.conftest import small_policy_data
from tests.router.service.api.conftest import CLASSIFIER_VERSION, EASY, publish_classifier


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    models_dir = tmp_path / "models"
    publish_classifier(models_dir)
    policy_path = tmp_path / "policy.yaml"
    policy_path.write_text(yaml.safe_dump(small_policy_data()), encoding="utf-8")
    return Settings(models_dir=models_dir, policy_path=policy_path)


class CountingLoader:
    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, settings: Settings) -> TextEncoder:
        self.calls += 1
        return HashingEncoder(384)


def test_a_store_is_not_ready_until_it_loads(settings: Settings) -> None:
    store = ModelStore(settings, CountingLoader())

    assert not store.ready
    with pytest.raises(ServiceNotReadyError, match="not loaded yet"):
        _ = store.active


def test_reload_builds_the_snapshot_that_serves(settings: Settings) -> None:
    store = ModelStore(settings, CountingLoader())
    snapshot = store.reload()

    assert store.ready and store.active is snapshot and store.problem is None
    assert (snapshot.classifier_version, snapshot.policy_version) == (CLASSIFIER_VERSION, "test-1")
    assert snapshot.decider.decide_text(EASY).tier in {"fast", "mid", "deep"}
    assert snapshot.target("deep").strategy.samples == 3


def test_reload_swaps_in_a_new_version_and_keeps_the_encoder(settings: Settings) -> None:
    loader = CountingLoader()
    store = ModelStore(settings, loader)
    old = store.reload()
    publish_classifier(settings.models_dir, "api-test-2")
    new = store.reload()

    assert store.active is new
    assert (old.classifier_version, new.classifier_version) == (CLASSIFIER_VERSION, "api-test-2")
    assert old.decider.decide_text(EASY).classifier_version == CLASSIFIER_VERSION
    assert loader.calls == 1


def test_a_failed_reload_keeps_the_snapshot_that_was_serving(settings: Settings) -> None:
    store = ModelStore(settings, CountingLoader())
    serving = store.reload()
    settings.policy_path.write_text("version: broken\ntiers: []\n", encoding="utf-8")

    with pytest.raises(PolicyError):
        store.reload()

    assert store.active is serving
    assert store.problem is not None and "no tiers" in store.problem


def test_a_failed_first_load_leaves_the_store_not_ready_with_the_reason(
    settings: Settings,
) -> None:
    (settings.models_dir / "CURRENT").unlink()
    store = ModelStore(settings, CountingLoader())

    with pytest.raises(ArtifactNotFoundError):
        store.reload()
    with pytest.raises(ServiceNotReadyError, match="CURRENT"):
        _ = store.active


class NamedHashing(HashingEncoder):
    """A hashing stand-in that calls itself by a real encoder's name."""

    def __init__(self, name: str) -> None:
        super().__init__(384)
        self._given_name = name

    @property
    def name(self) -> str:
        return self._given_name


def _publish_for(models_dir: Path, version: str, encoder_name: str) -> None:
    from classifiers.artifacts.store import save_artifact
    from classifiers.artifacts.versions import write_current
    from tests.router.service.api.conftest import fitted_ridge

    save_artifact(
        models_dir,
        version,
        fitted_ridge(),
        encoder_name=encoder_name,
        encoder_dimension=384,
        feature_names=[],
        training_data={"rows": 42},
        metrics={},
    )
    write_current(models_dir, version)


def test_auto_serves_with_the_encoder_the_version_was_fitted_on(settings: Settings) -> None:
    from classifiers.encoder import MODEL_NAME
    from classifiers.onnx_encoder import ONNX_NAME
    from router.service.model_store import serving_encoder_kind

    assert serving_encoder_kind(settings) == "onnx"  # a stand-in's version: the default kind
    _publish_for(settings.models_dir, "torch-fitted", MODEL_NAME)
    assert serving_encoder_kind(settings) == "torch"
    _publish_for(settings.models_dir, "onnx-fitted", ONNX_NAME)
    assert serving_encoder_kind(settings) == "onnx"
    pinned = settings.model_copy(update={"model_version": "torch-fitted"})
    assert serving_encoder_kind(pinned) == "torch"
    assert serving_encoder_kind(settings.model_copy(update={"encoder": "torch"})) == "torch"


def test_a_version_fitted_on_the_other_encoder_kind_brings_that_encoder(
    settings: Settings,
) -> None:
    from classifiers.encoder import MODEL_NAME
    from classifiers.encoder_choice import kind_of
    from classifiers.onnx_encoder import ONNX_NAME
    from router.service.model_store import serving_encoder_kind

    loaded: list[str] = []

    def loader(settings: Settings) -> TextEncoder:
        name = {"onnx": ONNX_NAME, "torch": MODEL_NAME}[serving_encoder_kind(settings)]
        loaded.append(name)
        return NamedHashing(name)

    _publish_for(settings.models_dir, "torch-fitted", MODEL_NAME)
    store = ModelStore(settings, loader)
    store.reload()
    _publish_for(settings.models_dir, "torch-fitted-2", MODEL_NAME)
    store.reload()
    assert loaded == [MODEL_NAME]
    _publish_for(settings.models_dir, "onnx-fitted", ONNX_NAME)
    snapshot = store.reload()
    assert loaded == [MODEL_NAME, ONNX_NAME]
    assert kind_of(snapshot.decider.scorer.encoder.name) == "onnx"  # type: ignore[attr-defined]
