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
