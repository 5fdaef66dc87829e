from __future__ import annotations

import json
import threading
from itertools import pairwise
from pathlib import Path

import pytest
from sklearn.linear_model import Ridge

from classifiers.artifacts.registry import (
    GATE_FILE,
    HISTORY_FILE,
    REPORT_DIR,
    RegistryError,
    describe,
    list_models,
    read_history,
    rollback,
    switch_current,
)
from classifiers.artifacts.store import ESTIMATOR_FILE
from classifiers.artifacts.versions import read_current, write_current
from classifiers.errors import ArtifactError, ArtifactIntegrityError, ArtifactNotFoundError
from tests.classifiers.conftest import save


@pytest.fixture
def registry(models_dir: Path, fitted_ridge: Ridge) -> Path:
    """Versions v1, v2, v3; CURRENT is v1, set by hand as a fresh install does."""
    for version in ("v1", "v2", "v3"):
        save(models_dir, version, fitted_ridge)
    write_current(models_dir, "v1")
    return models_dir


def test_promotions_are_recorded_and_rollbacks_walk_back_through_them(registry: Path) -> None:
    switch_current(registry, "v2")
    switch_current(registry, "v3", reason="gate passed")

    assert rollback(registry).current == "v2"
    assert rollback(registry).current == "v1"
    assert read_current(registry) == "v1"
    history = read_history(registry)
    assert [(s.action, s.previous, s.current) for s in history] == [
        ("promote", "v1", "v2"),
        ("promote", "v2", "v3"),
        ("rollback", "v3", "v2"),
        ("rollback", "v2", "v1"),
    ]
    assert history[1].reason == "gate passed"
    with pytest.raises(RegistryError, match="earliest recorded CURRENT"):
        rollback(registry)


def test_rollback_without_history_says_there_is_nothing_to_go_back_to(registry: Path) -> None:
    with pytest.raises(RegistryError, match="nothing to roll back to"):
        rollback(registry)
    assert read_current(registry) == "v1"


def test_rollback_refuses_when_current_was_changed_outside_the_registry(registry: Path) -> None:
    switch_current(registry, "v2")
    write_current(registry, "v3")  # by hand

    with pytest.raises(RegistryError, match="changed outside the registry"):
        rollback(registry)
    assert read_current(registry) == "v3"


def test_a_tampered_version_is_never_made_current(registry: Path) -> None:
    with (registry / "v2" / ESTIMATOR_FILE).open("ab") as handle:
        handle.write(b"\0")

    with pytest.raises(ArtifactIntegrityError, match="sha256"):
        switch_current(registry, "v2")
    assert read_current(registry) == "v1"
    assert read_history(registry) == []


def test_an_unknown_version_is_refused_with_the_ones_available(registry: Path) -> None:
    with pytest.raises(ArtifactNotFoundError, match="available: v1, v2, v3"):
        switch_current(registry, "v9")


def test_a_switch_expecting_another_current_is_refused(registry: Path) -> None:
    with pytest.raises(RegistryError, match="CURRENT is 'v1', not 'v2'"):
        switch_current(registry, "v3", expected_current="v2")
    assert read_current(registry) == "v1"


def test_promoting_the_current_version_changes_and_records_nothing(registry: Path) -> None:
    switch = switch_current(registry, "v1")

    assert not switch.changed
    assert not (registry / HISTORY_FILE).exists()


def test_concurrent_promotions_leave_a_consistent_chain(registry: Path) -> None:
    barrier = threading.Barrier(6)

    def promote(version: str) -> None:
        barrier.wait()
        switch_current(registry, version)

    threads = [threading.Thread(target=promote, args=(v,)) for v in ["v2", "v3"] * 3]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    history = read_history(registry)
    assert history and history[0].previous == "v1"
    for before, after in pairwise(history):
        assert after.previous == before.current  # every switch saw the one before it
    assert history[-1].current == read_current(registry)
    assert not [p for p in registry.iterdir() if p.name.startswith(f".{HISTORY_FILE}.")]


def test_list_marks_current_and_summarises_each_version(registry: Path) -> None:
    gate = {"passed": False, "reason": "refused: ...", "rows": []}
    (registry / "v3" / REPORT_DIR).mkdir()
    (registry / "v3" / REPORT_DIR / GATE_FILE).write_text(json.dumps(gate), encoding="utf-8")

    summaries = {s.version: s for s in list_models(registry)}

    assert [s.version for s in list_models(registry)] == ["v1", "v2", "v3"]
    assert summaries["v1"].current and not summaries["v2"].current
    assert summaries["v3"].gate == "refused" and summaries["v1"].gate is None
    assert set(summaries["v1"].metrics) >= {"apgr[all]", "spearman_math_level"}


def test_describe_shows_the_manifest_gate_and_the_switches_naming_the_version(
    registry: Path,
) -> None:
    switch_current(registry, "v2")
    switch_current(registry, "v3")

    details = describe(registry, "v2")

    assert details.manifest.version == "v2" and not details.current
    assert [(s.previous, s.current) for s in details.history] == [("v1", "v2"), ("v2", "v3")]
    assert details.gate is None
    assert json.loads(json.dumps(details.to_dict()))["manifest"]["version"] == "v2"


def test_a_broken_history_line_is_an_error_naming_it(registry: Path) -> None:
    (registry / HISTORY_FILE).write_text('{"time": "t"}\n', encoding="utf-8")

    with pytest.raises(ArtifactError, match="line 1 is not a recorded switch"):
        read_history(registry)


def test_a_broken_version_is_listed_with_its_problem(registry: Path) -> None:
    (registry / "v2" / "manifest.json").write_text("{", encoding="utf-8")

    summaries = {s.version: s for s in list_models(registry)}

    assert summaries["v2"].problem is not None and "not valid JSON" in summaries["v2"].problem
    assert summaries["v1"].problem is None
