"""Majority vote over sampled answers, compared by their final answer.

``final_answer`` reduces a reply to what it concludes, in this order: the last ``\\boxed{...}``,
else what follows the last "answer is" / "answer:", else the last number, else the whole text;
numbers lose thousands separators and trailing zeros, formulas their spaces, and text is folded
(case, whitespace, punctuation). ``majority_vote`` counts those; a tie goes to the earliest.
``extractable`` says whether a reply states such an answer at all: the upstream votes only when
at least two samples do, and otherwise takes the first sample.
"""

from __future__ import annotations

import re
import string
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

_ANSWER_IS: Final = re.compile(r"\banswer\s*(?:is\b|:)\s*:?\s*([^\n]+)", re.IGNORECASE)
_NUMBER: Final = re.compile(r"[-+]?\d[\d,]*(?:\.\d+)?|[-+]?\.\d+")
_ONLY_NUMBER: Final = re.compile(r"[-+]?(?:\d[\d,]*(?:\.\d+)?|\.\d+)")
_LATEX_TEXT: Final = re.compile(r"\\(?:text|mathrm|textbf)\{([^{}]*)\}")
_PUNCTUATION: Final = str.maketrans("", "", string.punctuation)
_SHOWN_CHARS: Final = 24


def _last_boxed(text: str) -> str | None:
    """The contents of the last ``\\boxed{...}``, braces balanced; None if there is none."""
    start = text.rfind("\\boxed{")
    if start < 0:
        return None
    depth, begin = 0, start + len("\\boxed{")
    for index in range(begin - 1, len(text)):
        depth += {"{": 1, "}": -1}.get(text[index], 0)
        if depth == 0:
            return text[begin:index]
    return None


def _number(text: str) -> str:
    """``"1,000.50"`` -> ``"1000.5"``, ``"+42.0"`` -> ``"42"``."""
    number = text.replace(",", "").lstrip("+")
    if "." in number:
        number = number.rstrip("0").rstrip(".")
    return "0" if number in {"-0", "", "-"} else number


def _fold(text: str) -> str:
    return " ".join(text.lower().translate(_PUNCTUATION).split())


def _clean(candidate: str) -> str:
    """A stated answer without LaTeX dressing: a number, a spaceless formula, or folded text."""
    bare = _LATEX_TEXT.sub(r"\1", candidate).replace("$", "").strip().rstrip(".").strip()
    if _ONLY_NUMBER.fullmatch(bare):
        return _number(bare)
    if any(mark in bare for mark in "\\{}^"):
        return "".join(bare.split())
    return _fold(bare)


def final_answer(text: str) -> str:
    """What ``text`` concludes, normalised so that equal answers compare equal."""
    boxed = _last_boxed(text)
    if boxed is not None:
        return _clean(boxed)
    stated = _ANSWER_IS.findall(text)
    if stated:
        return _clean(stated[-1].split(". ")[0])
    numbers = _NUMBER.findall(text)
    if numbers:
        return _number(numbers[-1])
    return _fold(text)


def extractable(text: str) -> bool:
    """Whether ``text`` states a final answer a vote can compare (a ``\\boxed{}``, an "answer
    is", or a number); otherwise ``final_answer`` would compare whole texts, which never agree."""
    return _last_boxed(text) is not None or bool(_ANSWER_IS.search(text) or _NUMBER.search(text))


def _shown(answer: str) -> str:
    """An answer as it appears in a summary: short, quoted, ASCII (it ends up in a header)."""
    short = answer if len(answer) <= _SHOWN_CHARS else answer[: _SHOWN_CHARS - 3] + "..."
    return "'" + short.encode("ascii", "backslashreplace").decode("ascii") + "'"


@dataclass(frozen=True)
class Vote:
    """The outcome of a vote: which answer won and how the answers split."""

    winner: int
    """Index, in the answers voted on, of the first answer equal to the winning one."""
    tally: tuple[tuple[str, int], ...]
    """(final answer, count), most votes first, ties in order of first appearance."""
    failed: int = 0
    """Samples that failed and did not vote."""

    @property
    def samples(self) -> int:
        return sum(count for _, count in self.tally) + self.failed

    def summary(self) -> str:
        """E.g. ``3 samples: 2x'42', 1x'41'`` or ``3 samples (1 failed): 1x'42', 1x'41'``."""
        failed = f" ({self.failed} failed)" if self.failed else ""
        counts = ", ".join(f"{count}x{_shown(answer)}" for answer, count in self.tally)
        return f"{self.samples} samples{failed}: {counts}"


def majority_vote(texts: Sequence[str], *, failed: int = 0) -> Vote:
    """Vote over ``texts`` by final answer; ``failed`` samples are only counted in the summary."""
    if not texts:
        raise ValueError("majority_vote needs at least one answer")
    answers = [final_answer(text) for text in texts]
    counts = Counter(answers)
    tally = tuple(sorted(counts.items(), key=lambda item: (-item[1], answers.index(item[0]))))
    return Vote(winner=answers.index(tally[0][0]), tally=tally, failed=failed)
