"""BatchedEncoder: length-sorted chunks, order kept, and a per-text error for invalid Unicode."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from classifiers.batched import unencodable
from classifiers.encoder import Encoder, HashingEncoder
from classifiers.errors import DataError, UnencodableTextError
from tests.classifiers.conftest import CountingModel

MakeEncoder = Callable[..., Encoder]


def test_chunks_go_longest_first_and_rows_come_back_in_input_order(
    make_encoder: MakeEncoder, counting_model: CountingModel
) -> None:
    texts = ["a", "a much longer text than the rest", "mid length", "bb", "longer than mid"]
    rows = make_encoder(batch_size=2, cache_size=0).encode(texts)
    assert counting_model.batches == [
        ["a much longer text than the rest", "longer than mid"],
        ["mid length", "bb"],
        ["a"],
    ]
    np.testing.assert_array_equal(rows, HashingEncoder(32).encode(texts))


def test_a_lone_surrogate_is_refused_by_index_before_anything_is_embedded(
    make_encoder: MakeEncoder, counting_model: CountingModel
) -> None:
    with pytest.raises(UnencodableTextError) as info:
        make_encoder().encode(["fine", "bad \ud800 text", "fine too", "\udfff"])
    assert set(info.value.problems) == {1, 3}
    assert "text 1: lone surrogate '\\ud800' at character 4" in info.value.message
    assert isinstance(info.value, DataError) and info.value.status_code == 400
    assert counting_model.batches == []


def test_the_other_texts_of_a_refused_call_still_encode(make_encoder: MakeEncoder) -> None:
    texts = ["fine", "bad \ud800 text", "fine too"]
    with pytest.raises(UnencodableTextError) as info:
        make_encoder().encode(texts)
    kept = [text for index, text in enumerate(texts) if index not in info.value.problems]
    assert make_encoder().encode(kept).shape == (2, 32)


def test_a_surrogate_pair_written_as_one_character_is_fine() -> None:
    assert unencodable("emoji \U0001f600 and accents éà") is None
    assert unencodable("x\ud83d") == "lone surrogate '\\ud83d' at character 1 is not valid Unicode"


def test_many_bad_texts_are_summarised() -> None:
    error = UnencodableTextError({index: "lone surrogate" for index in range(8)})
    assert "cannot encode 8 of the texts" in error.message and "(and 3 more)" in error.message
