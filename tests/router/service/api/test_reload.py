"""Hot reload: a new CURRENT is picked up, a broken version is refused, requests never fail."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import anyio
import pytest

from classifiers.artifacts.versions import write_current
from classifiers.encoder import HashingEncoder
from router.service.model_store import ModelStore
from router.service.reloader import CurrentWatcher
from router.settings import SHIPPED_POLICY, Settings
from tests.router.service.api.conftest import DIMENSION, MakeClient, publish_classifier, user


def store_for(models_dir: Path) -> ModelStore:
    settings = Settings(models_dir=models_dir, policy_path=SHIPPED_POLICY)
    store = ModelStore(settings, lambda _: HashingEncoder(DIMENSION))
    store.reload()
    return store


def publish_corrupt(models_dir: Path, version: str) -> None:
    """Save ``version``, flip a byte of its artifact, and only then point CURRENT at it (a
    watcher polling meanwhile must never see the intact artifact as current)."""
    publish_classifier(models_dir, version, make_current=False)
    artifact = models_dir / version / "estimator.joblib"
    blob = bytearray(artifact.read_bytes())
    blob[-10] ^= 0xFF
    artifact.write_bytes(bytes(blob))
    write_current(models_dir, version)


def test_a_new_current_is_loaded_and_an_unchanged_one_is_not(models_dir: Path) -> None:
    store = store_for(models_dir)
    results: list[tuple[str, bool]] = []
    watcher = CurrentWatcher(store, models_dir, on_reload=lambda v, ok: results.append((v, ok)))

    assert anyio.run(watcher.check) is False
    publish_classifier(models_dir, "v2")

    assert anyio.run(watcher.check) is True
    assert store.active.classifier_version == "v2"
    assert results == [("v2", True)]


def test_a_broken_version_is_refused_once_and_the_old_one_keeps_serving(
    models_dir: Path,
) -> None:
    store = store_for(models_dir)
    serving = store.active.classifier_version
    results: list[tuple[str, bool]] = []
    watcher = CurrentWatcher(store, models_dir, on_reload=lambda v, ok: results.append((v, ok)))
    publish_corrupt(models_dir, "broken")

    assert anyio.run(watcher.check) is False
    assert anyio.run(watcher.check) is False
    assert store.active.classifier_version == serving
    assert results == [("broken", False)]
    assert store.problem is not None and "estimator.joblib" in store.problem


def test_the_watcher_survives_and_counts_any_failure(
    models_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = store_for(models_dir)
    results: list[tuple[str, bool]] = []
    watcher = CurrentWatcher(
        store, models_dir, interval_s=0.01, on_reload=lambda v, ok: results.append((v, ok))
    )
    calls = 0

    def failing_reload() -> object:
        nonlocal calls
        calls += 1
        raise MemoryError("not a RouterError") if calls == 1 else KeyError("neither")

    monkeypatch.setattr(store, "reload", failing_reload)
    publish_classifier(models_dir, "v2")
    assert anyio.run(watcher.check) is False  # refused, not raised
    monkeypatch.setattr(watcher, "_wanted_version", lambda: 1 / 0)

    async def watch_briefly() -> None:
        with anyio.move_on_after(0.2):
            await watcher.run()

    anyio.run(watch_briefly)
    assert results[0] == ("v2", False)
    assert len(results) > 2, "every failed check is counted and the watcher keeps going"


def test_versions_switch_under_load_without_a_failed_request(
    make_client: MakeClient, models_dir: Path
) -> None:
    client = make_client(reload_interval_s=0.05)
    statuses: list[int] = []
    versions: set[str] = set()
    stop = threading.Event()

    def load() -> None:
        while not stop.is_set():
            response = client.post("/v1/route", json={"messages": user("What is 2 + 2?")})
            statuses.append(response.status_code)
            versions.add(response.headers["x-router-classifier-version"])

    workers = [threading.Thread(target=load) for _ in range(4)]
    for worker in workers:
        worker.start()
    try:
        for version in ("v2", "v3"):
            publish_classifier(models_dir, version)
            time.sleep(0.5)
        publish_corrupt(models_dir, "broken")
        time.sleep(0.5)
    finally:
        stop.set()
        for worker in workers:
            worker.join()

    assert statuses and set(statuses) == {200}
    assert {"v2", "v3"} <= versions and "broken" not in versions
    ready = client.get("/readyz").json()
    assert "v3" in str(ready)
    metrics = client.get("/metrics").text
    assert 'router_classifier_reloads_total{result="refused"} 1.0' in metrics


def test_a_pinned_version_is_not_followed(make_client: MakeClient, models_dir: Path) -> None:
    client = make_client(reload_interval_s=0.05, model_version="api-test-1")
    publish_classifier(models_dir, "v2")
    time.sleep(0.3)

    response = client.post("/v1/route", json={"messages": user("hello")})
    assert response.headers["x-router-classifier-version"] == "api-test-1"
