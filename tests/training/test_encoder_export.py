"""The encoder export: rebuilt from the installed package, byte for byte what is shipped."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from classifiers.onnx_encoder import OnnxEncoder, read_encoder_spec
from training.encoder_export import check_export, default_export_dir, export_encoder


@pytest.mark.slow
def test_a_rebuild_gives_the_shipped_files_byte_for_byte() -> None:
    result = check_export()
    assert result.identical, result.differences()
    assert set(result.expected) == {"model.onnx", "tokenizer.json"}


@pytest.mark.slow
def test_an_export_loads_and_embeds_like_the_shipped_one(tmp_path: Path) -> None:
    target = tmp_path / "encoder"
    spec = export_encoder(target)
    assert read_encoder_spec(target) == json.loads(json.dumps(spec))
    texts = ["How many primes are below 100?", "Write a haiku about autumn."]
    fresh = OnnxEncoder.load(target, cache_size=0).encode(texts)
    shipped = OnnxEncoder.load(cache_size=0).encode(texts)
    np.testing.assert_array_equal(fresh, shipped)
    assert oct(target.stat().st_mode & 0o777) == "0o755"


def test_an_existing_export_is_not_replaced_unasked(tmp_path: Path) -> None:
    (tmp_path / "encoder").mkdir()
    with pytest.raises(FileExistsError, match="--replace"):
        export_encoder(tmp_path / "encoder")


def test_the_default_target_is_the_shipped_directory() -> None:
    assert default_export_dir() == Path(__file__).resolve().parents[2] / "models" / "encoders" / (
        "all-MiniLM-L6-v2-onnx-int8"
    )
