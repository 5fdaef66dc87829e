"""router.upstream.voting: final answers and the majority vote over them."""

from __future__ import annotations

import pytest

from router.upstream.voting import extractable, final_answer, majority_vote


@pytest.mark.parametrize(
    ("text", "answer"),
    [
        ("so we get \\boxed{42}", "42"),
        ("first \\boxed{1}, then \\boxed{\\frac{1}{2}}", "\\frac{1}{2}"),
        ("\\boxed{\\text{Paris}}", "paris"),
        ("The answer is 1,000.", "1000"),
        ("Answer: $3.50$", "3.5"),
        ("The final answer is Paris. It is the capital.", "paris"),
        ("6 times 7 makes 42", "42"),
        ("It is -0.0", "0"),
        ("  Hello,   World! ", "hello world"),
    ],
)
def test_final_answer_extracts_and_normalises(text: str, answer: str) -> None:
    assert final_answer(text) == answer


def test_equal_answers_in_different_words_vote_together() -> None:
    vote = majority_vote(["The answer is 42.", "\\boxed{41}", "6*7 = 42.0"])

    assert vote.winner == 0
    assert vote.tally == (("42", 2), ("41", 1))
    assert vote.summary() == "3 samples: 2x'42', 1x'41'"


def test_a_tie_goes_to_the_first_sample() -> None:
    vote = majority_vote(["blue", "red", "Red!", "BLUE"])

    assert vote.winner == 0
    assert vote.tally == (("blue", 2), ("red", 2))


def test_failed_samples_are_counted_in_the_summary() -> None:
    vote = majority_vote(["42"], failed=2)

    assert vote.samples == 3
    assert vote.summary() == "3 samples (2 failed): 1x'42'"


def test_summary_is_short_and_ascii() -> None:
    vote = majority_vote(["Ünïcode answers can be long, very long, far too long"])

    summary = vote.summary()
    assert summary.isascii()
    assert len(summary) < 60


def test_vote_needs_an_answer() -> None:
    with pytest.raises(ValueError, match="at least one"):
        majority_vote([])


@pytest.mark.parametrize(
    ("text", "states_an_answer"),
    [
        ("so the result is \\boxed{42}", True),
        ("The answer is Paris.", True),
        ("about 3.5 metres", True),
        ("Roses are red, violets are blue.", False),
        ("", False),
    ],
)
def test_extractable_says_whether_a_reply_states_a_final_answer(
    text: str, states_an_answer: bool
) -> None:
    assert extractable(text) is states_an_answer
