from __future__ import annotations

import hashlib
import json
import os
import pickle
import re
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pytest
import sklearn
from sklearn.linear_model import Ridge

from classifiers.artifacts.manifest import MANIFEST_FILE, Manifest, read_manifest
from classifiers.artifacts.safe_load import UntrustedContentError, safe_load
from classifiers.artifacts.store import (
    ESTIMATOR_FILE,
    STALE_STAGING_S,
    load_artifact,
    save_artifact,
)
from classifiers.artifacts.versions import list_versions, resolve_version
from classifiers.encoder import HashingEncoder
from classifiers.errors import (
    ArtifactError,
    ArtifactIntegrityError,
    ArtifactMismatchError,
    ArtifactNotFoundError,
)
from tests.classifiers.conftest import labelled_prompts, save

ENCODER = HashingEncoder(384)


def load(version_dir: Path, dimension: int = 384, name: str = ENCODER.name) -> Any:
    return load_artifact(version_dir, encoder_name=name, encoder_dimension=dimension)


def edit_manifest(version_dir: Path, **changes: Any) -> None:
    path = version_dir / MANIFEST_FILE
    data = json.loads(path.read_text())
    data.update(changes)
    path.write_text(json.dumps(data))


class _Payload:
    """Unpickling this creates ``marker``: a stand-in for whatever a hostile pickle would do."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (os.mkdir, (str(self.marker),))


def test_round_trip_restores_the_estimator_and_its_manifest(
    models_dir: Path, fitted_ridge: Ridge
) -> None:
    saved = save(models_dir, "v1", fitted_ridge)
    loaded = load(models_dir / "v1")
    texts, _ = labelled_prompts()
    X = ENCODER.encode(texts)
    np.testing.assert_array_equal(loaded.estimator.predict(X), fitted_ridge.predict(X))
    assert loaded.manifest == saved == read_manifest(models_dir / "v1")
    assert loaded.path == models_dir / "v1"


def test_manifest_records_encoder_libraries_and_digest(
    models_dir: Path, fitted_ridge: Ridge
) -> None:
    manifest = save(models_dir, "v1", fitted_ridge)
    data = json.loads((models_dir / "v1" / MANIFEST_FILE).read_text())
    estimator_bytes = (models_dir / "v1" / ESTIMATOR_FILE).read_bytes()
    assert data["format"] == 1 and data["version"] == "v1"
    assert data["encoder"] == {"name": ENCODER.name, "dimension": 384, "files_sha256": None}
    assert data["artifact"] == {
        "file": ESTIMATOR_FILE,
        "sha256": hashlib.sha256(estimator_bytes).hexdigest(),
        "bytes": len(estimator_bytes),
    }
    assert set(data["libraries"]) == {
        "python",
        "numpy",
        "scikit-learn",
        "joblib",
        "sentence-transformers",
        "torch",
        "onnxruntime",
        "tokenizers",
    }
    assert data["libraries"]["scikit-learn"] == sklearn.__version__
    assert datetime.fromisoformat(manifest.created).utcoffset() == timedelta(0)
    assert Manifest.model_validate(data, strict=False) == manifest


def test_numpy_values_in_metrics_are_stored_as_plain_json(
    models_dir: Path, fitted_ridge: Ridge
) -> None:
    manifest = save_artifact(
        models_dir,
        "v1",
        fitted_ridge,
        encoder_name=ENCODER.name,
        encoder_dimension=384,
        feature_names=["log_chars"],
        training_data={"rows": np.int64(42)},
        metrics={"auc": np.float32(0.75), "thresholds": np.array([0.25, 0.5])},
    )
    assert manifest.metrics == {"auc": 0.75, "thresholds": [0.25, 0.5]}
    assert manifest.training_data == {"rows": 42}
    assert read_manifest(models_dir / "v1").feature_names == ("log_chars",)


def test_unserialisable_metrics_are_refused_before_anything_is_written(
    models_dir: Path, fitted_ridge: Ridge
) -> None:
    with pytest.raises(ArtifactError, match="metrics is not JSON-serialisable"):
        save_artifact(
            models_dir,
            "v1",
            fitted_ridge,
            encoder_name=ENCODER.name,
            encoder_dimension=384,
            feature_names=[],
            training_data={},
            metrics={"model": object()},
        )
    assert not models_dir.exists()


def test_a_modified_estimator_file_is_not_unpickled(saved_v1: Path, tmp_path: Path) -> None:
    hostile = pickle.dumps(_Payload(tmp_path / "ran"))
    (saved_v1 / ESTIMATOR_FILE).write_bytes(hostile)
    with pytest.raises(ArtifactIntegrityError, match="will not be loaded, because unpickling"):
        load(saved_v1)
    assert not (tmp_path / "ran").exists()
    # The payload is live: loading the same bytes without the check runs it.
    (tmp_path / "copy.joblib").write_bytes(hostile)
    joblib.load(tmp_path / "copy.joblib")
    assert (tmp_path / "ran").is_dir()


def test_a_tampered_file_with_a_matching_manifest_still_runs_nothing(
    saved_v1: Path, tmp_path: Path
) -> None:
    """Whoever can change the file can change the manifest: the loader itself must refuse."""
    path = saved_v1 / ESTIMATOR_FILE
    joblib.dump(_Payload(tmp_path / "ran"), path)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    manifest = json.loads((saved_v1 / MANIFEST_FILE).read_text())
    manifest["artifact"] |= {"sha256": digest, "bytes": path.stat().st_size}
    (saved_v1 / MANIFEST_FILE).write_text(json.dumps(manifest))

    with pytest.raises(ArtifactIntegrityError, match=r"refuses posix\.mkdir: not a trusted type"):
        load(saved_v1)
    assert not (tmp_path / "ran").exists()


@pytest.mark.parametrize(
    "hostile",
    [np.memmap, eval, os.system, sklearn.utils.check_random_state],
)
def test_only_trusted_types_are_resolved(tmp_path: Path, hostile: Any) -> None:
    class Calls:
        def __reduce__(self) -> tuple[Any, ...]:
            return (hostile, ("1",))

    path = tmp_path / "hostile.joblib"
    joblib.dump({"estimator": Calls()}, path)
    with pytest.raises(UntrustedContentError, match="not a trusted type"):
        safe_load(path)


def test_a_flipped_byte_is_refused(saved_v1: Path) -> None:
    path = saved_v1 / ESTIMATOR_FILE
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(ArtifactIntegrityError, match="was modified after it was saved"):
        load(saved_v1)


def test_a_truncated_estimator_file_is_refused(saved_v1: Path) -> None:
    path = saved_v1 / ESTIMATOR_FILE
    path.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(ArtifactIntegrityError, match="bytes"):
        load(saved_v1)


def test_a_missing_estimator_file_is_not_found(saved_v1: Path) -> None:
    (saved_v1 / ESTIMATOR_FILE).unlink()
    with pytest.raises(ArtifactNotFoundError, match="estimator file is missing"):
        load(saved_v1)


def test_an_artifact_file_outside_the_version_directory_is_refused(saved_v1: Path) -> None:
    manifest = json.loads((saved_v1 / MANIFEST_FILE).read_text())
    edit_manifest(saved_v1, artifact={**manifest["artifact"], "file": "../elsewhere.joblib"})
    with pytest.raises(ArtifactIntegrityError, match="not a plain file name"):
        load(saved_v1)


def test_another_encoder_dimension_is_refused(saved_v1: Path) -> None:
    with pytest.raises(ArtifactMismatchError, match=r"built for 384-dimensional embeddings.*768"):
        load(saved_v1, dimension=768)


def test_another_encoder_name_is_refused(saved_v1: Path) -> None:
    with pytest.raises(ArtifactMismatchError, match="built for encoder 'hashing-stand-in-384'"):
        load(saved_v1, name="sentence-transformers/all-MiniLM-L6-v2")


def test_other_encoder_model_files_are_refused_naming_both_digests(saved_v1: Path) -> None:
    manifest = json.loads((saved_v1 / MANIFEST_FILE).read_text())
    edit_manifest(saved_v1, encoder={**manifest["encoder"], "files_sha256": "a" * 64})
    with pytest.raises(
        ArtifactMismatchError, match=r"sha256 a{16}…, but the installed ones have b"
    ):
        load_artifact(
            saved_v1,
            encoder_name=ENCODER.name,
            encoder_dimension=384,
            encoder_files_sha256="b" * 64,
        )


def test_model_files_are_compared_only_where_both_sides_know_them(
    saved_v1: Path, models_dir: Path, fitted_ridge: Ridge
) -> None:
    recorded = save_artifact(
        models_dir,
        "with-files",
        fitted_ridge,
        encoder_name=ENCODER.name,
        encoder_dimension=384,
        encoder_files_sha256="c" * 64,
        feature_names=(),
        training_data={},
        metrics={},
    )
    assert read_manifest(models_dir / "with-files").encoder == recorded.encoder
    assert recorded.encoder.files_sha256 == "c" * 64

    # A stand-in encoder knows no digest; a manifest from before digests records none.
    load(models_dir / "with-files")
    load_artifact(
        saved_v1, encoder_name=ENCODER.name, encoder_dimension=384, encoder_files_sha256="d" * 64
    )


def test_another_scikit_learn_minor_version_is_refused_naming_both(saved_v1: Path) -> None:
    manifest = json.loads((saved_v1 / MANIFEST_FILE).read_text())
    edit_manifest(saved_v1, libraries={**manifest["libraries"], "scikit-learn": "0.24.2"})
    with pytest.raises(ArtifactMismatchError, match=re.escape(f"0.24.2 but {sklearn.__version__}")):
        load(saved_v1)


def test_an_unknown_manifest_format_is_refused(saved_v1: Path) -> None:
    edit_manifest(saved_v1, format=2)
    with pytest.raises(ArtifactMismatchError, match="manifest format 2; this code reads format 1"):
        load(saved_v1)


def test_a_missing_manifest_is_not_found(saved_v1: Path) -> None:
    (saved_v1 / MANIFEST_FILE).unlink()
    with pytest.raises(ArtifactNotFoundError, match="no manifest"):
        load(saved_v1)


def test_a_manifest_that_is_not_json_is_an_integrity_error(saved_v1: Path) -> None:
    (saved_v1 / MANIFEST_FILE).write_text('{"format": 1,')
    with pytest.raises(ArtifactIntegrityError, match=r"manifest\.json: manifest is not valid JSON"):
        load(saved_v1)


def test_a_manifest_missing_a_field_names_it(saved_v1: Path) -> None:
    data = json.loads((saved_v1 / MANIFEST_FILE).read_text())
    del data["encoder"]["dimension"]
    (saved_v1 / MANIFEST_FILE).write_text(json.dumps(data))
    with pytest.raises(ArtifactIntegrityError, match=r"missing field 'encoder\.dimension'"):
        load(saved_v1)


@pytest.mark.parametrize("dimension", ["384", True, 384.0])
def test_a_mistyped_manifest_field_names_it(saved_v1: Path, dimension: object) -> None:
    data = json.loads((saved_v1 / MANIFEST_FILE).read_text())
    data["encoder"]["dimension"] = dimension
    (saved_v1 / MANIFEST_FILE).write_text(json.dumps(data))
    with pytest.raises(ArtifactIntegrityError, match=r"field 'encoder\.dimension': .*integer"):
        load(saved_v1)


def test_a_renamed_version_directory_is_refused(saved_v1: Path) -> None:
    renamed = saved_v1.rename(saved_v1.parent / "v2")
    with pytest.raises(ArtifactIntegrityError, match="manifest is for version 'v1', not 'v2'"):
        load(renamed)


def test_a_missing_version_directory_is_not_found(models_dir: Path) -> None:
    with pytest.raises(ArtifactNotFoundError, match="no such artifact version directory"):
        load(models_dir / "v9")


def test_an_existing_version_is_never_overwritten(saved_v1: Path, fitted_ridge: Ridge) -> None:
    before = (saved_v1 / ESTIMATOR_FILE).read_bytes()
    with pytest.raises(ArtifactError, match="version already exists"):
        save(saved_v1.parent, "v1", Ridge().fit([[0.0], [1.0]], [0.0, 1.0]), dimension=1)
    assert (saved_v1 / ESTIMATOR_FILE).read_bytes() == before


@pytest.mark.parametrize("failure", [OSError(28, "No space left on device"), RuntimeError("boom")])
def test_an_interrupted_save_leaves_no_version_behind(
    models_dir: Path,
    fitted_ridge: Ridge,
    monkeypatch: pytest.MonkeyPatch,
    failure: Exception,
) -> None:
    def dump_partly(value: Any, filename: Path, **options: Any) -> None:
        Path(filename).write_bytes(b"half a pickle")
        raise failure

    monkeypatch.setattr(joblib, "dump", dump_partly)
    with pytest.raises(ArtifactError, match="v1: not saved") as info:
        save(models_dir, "v1", fitted_ridge)
    assert info.value.__cause__ is failure
    assert list(models_dir.iterdir()) == []


def test_an_unfitted_estimator_is_refused(models_dir: Path) -> None:
    with pytest.raises(ArtifactError, match="Ridge is not fitted"):
        save(models_dir, "v1", Ridge())


@pytest.mark.parametrize("version", ["", "../escape", ".hidden", "a/b", "v 1"])
def test_unsafe_version_names_are_refused(
    models_dir: Path, fitted_ridge: Ridge, version: str
) -> None:
    with pytest.raises(ArtifactError, match="invalid version name"):
        save(models_dir, version, fitted_ridge)
    assert not models_dir.exists()


def test_current_names_the_default_version(saved_v1: Path, fitted_ridge: Ridge) -> None:
    models_dir = saved_v1.parent
    save(models_dir, "v2", fitted_ridge)
    (models_dir / "CURRENT").write_text("v1\n")
    assert resolve_version(models_dir, None) == saved_v1
    assert resolve_version(models_dir, "v2") == models_dir / "v2"


def test_a_missing_current_file_is_reported(saved_v1: Path) -> None:
    with pytest.raises(ArtifactNotFoundError, match="CURRENT: no CURRENT file"):
        resolve_version(saved_v1.parent, None)


def test_an_empty_current_file_is_reported(saved_v1: Path) -> None:
    (saved_v1.parent / "CURRENT").write_text("\n")
    with pytest.raises(ArtifactNotFoundError, match="CURRENT is empty"):
        resolve_version(saved_v1.parent, None)


def test_current_naming_an_absent_version_lists_the_available_ones(saved_v1: Path) -> None:
    (saved_v1.parent / "CURRENT").write_text("v7")
    with pytest.raises(ArtifactNotFoundError, match=r"no version 'v7' \(available: v1\)"):
        resolve_version(saved_v1.parent, None)


def test_a_save_sweeps_staging_left_by_a_killed_save_a_day_ago(
    saved_v1: Path, fitted_ridge: Ridge
) -> None:
    models_dir = saved_v1.parent
    stale, fresh = models_dir / ".v2.old.partial", models_dir / ".v2.new.partial"
    for staging in (stale, fresh):
        staging.mkdir()
        (staging / ESTIMATOR_FILE).write_bytes(b"half a pickle")
    day_and_a_minute_ago = time.time() - STALE_STAGING_S - 60
    os.utime(stale, (day_and_a_minute_ago, day_and_a_minute_ago))

    save(models_dir, "v3", fitted_ridge)

    assert not stale.exists()
    assert fresh.is_dir()  # another save may still be writing it
    assert list_versions(models_dir) == ["v1", "v3"]


def test_listing_skips_staging_and_incomplete_directories(saved_v1: Path) -> None:
    (saved_v1.parent / ".v2.abc.partial").mkdir()
    (saved_v1.parent / "v3").mkdir()
    assert list_versions(saved_v1.parent) == ["v1"]
