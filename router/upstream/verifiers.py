"""Verifiers: checks outside the model's own chain that pick or reject an answer.

``Verifier(name, spec)`` runs the check a policy declared (``router.decision.verifier_specs``):

    verifier = Verifier("json-answer", JsonSchemaSpec(kind="json_schema", schema=...))
    index, verdict = await verifier.choose(texts, messages)   # the sample to answer with

``choose`` returns the first sample that passes (for ``final_answer``, the majority answer,
passing when enough samples agree on it); when none passes, the first sample (the majority one
for ``final_answer``) with a failing verdict, so a cascade knows to escalate. A ``python``
verifier runs in a worker thread (it may run unit tests); one that raises fails the check, its
error named in the verdict's detail and logged, and never fails the request.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

import anyio

from router.decision.verifier_specs import (
    FinalAnswerSpec,
    JsonSchemaSpec,
    NumericSpec,
    PythonSpec,
    RegexSpec,
    VerifierSpec,
    load_entry_point,
)
from router.upstream.voting import final_answer, majority_vote

__all__ = ["Verdict", "Verifier"]

logger = logging.getLogger(__name__)

_FENCED_JSON: Final = re.compile(r"```(?:json)?\s*\n(.*?)```", re.DOTALL)
_DETAIL_CHARS: Final = 200

Messages = Sequence[Mapping[str, Any]]
Check = Callable[[str, Messages], "tuple[bool, str]"]


@dataclass(frozen=True)
class Verdict:
    """What a verifier said of the chosen answer."""

    verifier: str
    passed: bool
    detail: str

    def summary(self) -> str:
        """E.g. ``json-answer: passed`` or ``agree: failed (1 of 3 agree)``."""
        word = "passed" if self.passed else "failed"
        return f"{self.verifier}: {word}" + (f" ({self.detail})" if self.detail else "")


class Verifier:
    """One named check, ready to run."""

    def __init__(self, name: str, spec: VerifierSpec) -> None:
        self.name = name
        self.spec = spec
        self._check = _check_of(spec)

    @property
    def judges_samples(self) -> bool:
        """Whether the check is over all samples (agreement) rather than one answer."""
        return isinstance(self.spec, FinalAnswerSpec)

    @property
    def in_thread(self) -> bool:
        return isinstance(self.spec, PythonSpec)

    async def choose(self, texts: Sequence[str], messages: Messages) -> tuple[int, Verdict]:
        """The index of the answer to give, and the verdict on it."""
        if not texts:
            raise ValueError("a verifier needs at least one answer")
        if isinstance(self.spec, FinalAnswerSpec):
            return self._agreement(self.spec, texts)
        if self.in_thread:
            return await anyio.to_thread.run_sync(self._first_passing, texts, messages)
        return self._first_passing(texts, messages)

    def _agreement(self, spec: FinalAnswerSpec, texts: Sequence[str]) -> tuple[int, Verdict]:
        vote = majority_vote(texts)
        count = vote.tally[0][1]
        share = count / len(texts)
        detail = f"{count} of {len(texts)} agree"
        return vote.winner, Verdict(self.name, share >= spec.min_agreement, detail)

    def _first_passing(self, texts: Sequence[str], messages: Messages) -> tuple[int, Verdict]:
        first_failure = ""
        for index, text in enumerate(texts):
            passed, detail = self._run(text, messages)
            if passed:
                shown = detail if len(texts) == 1 else f"sample {index + 1} of {len(texts)}"
                return index, Verdict(self.name, True, shown)
            first_failure = first_failure or detail
        if len(texts) > 1:
            first_failure = f"none of {len(texts)} samples: {first_failure}"
        return 0, Verdict(self.name, False, first_failure)

    def _run(self, text: str, messages: Messages) -> tuple[bool, str]:
        try:
            return self._check(text, messages)
        except Exception as exc:  # a custom check's own failure fails the check, not the request
            logger.warning("verifier '%s' raised %s: %s", self.name, type(exc).__name__, exc)
            return False, f"raised {type(exc).__name__}: {exc}"[:_DETAIL_CHARS]


def _check_of(spec: VerifierSpec) -> Check:
    if isinstance(spec, FinalAnswerSpec):
        return lambda text, messages: (True, "")  # judged over all samples, in _agreement
    if isinstance(spec, NumericSpec):
        return _numeric(spec)
    if isinstance(spec, RegexSpec):
        return _regex(spec)
    if isinstance(spec, JsonSchemaSpec):
        return _json_schema(spec)
    return _python(spec)


def _numeric(spec: NumericSpec) -> Check:
    def check(text: str, messages: Messages) -> tuple[bool, str]:
        answer = final_answer(text)
        try:
            value = float(answer)
        except ValueError:
            return False, f"final answer {answer[:40]!r} is not a number"
        if spec.min is not None and value < spec.min:
            return False, f"{value:g} is below {spec.min:g}"
        if spec.max is not None and value > spec.max:
            return False, f"{value:g} is above {spec.max:g}"
        return True, ""

    return check


def _regex(spec: RegexSpec) -> Check:
    pattern = re.compile(spec.pattern)

    def check(text: str, messages: Messages) -> tuple[bool, str]:
        if pattern.search(text):
            return True, ""
        return False, f"no match for {spec.pattern!r}"

    return check


def _json_schema(spec: JsonSchemaSpec) -> Check:
    import jsonschema  # 50 ms at import: only a policy with such a verifier needs it

    validator = jsonschema.validators.validator_for(spec.schema_)(spec.schema_)

    def check(text: str, messages: Messages) -> tuple[bool, str]:
        document = _json_of(text)
        if document is None:
            return False, "the answer is not JSON"
        error = jsonschema.exceptions.best_match(validator.iter_errors(document))
        if error is None:
            return True, ""
        where = "/".join(str(part) for part in error.absolute_path) or "the document"
        return False, f"{where}: {error.message}"[:_DETAIL_CHARS]

    return check


def _json_of(text: str) -> Any:
    """The answer as JSON: the whole text, else its first fenced block; None if neither."""
    candidates = [text.strip(), *(block.strip() for block in _FENCED_JSON.findall(text)[:1])]
    for candidate in candidates:
        try:
            return json.loads(candidate)
        except ValueError:
            continue
    return None


def _python(spec: PythonSpec) -> Check:
    function = load_entry_point(spec.entry_point)

    def check(text: str, messages: Messages) -> tuple[bool, str]:
        outcome = function(text, [dict(message) for message in messages])
        if isinstance(outcome, bool):
            return outcome, ""
        if (
            isinstance(outcome, tuple)
            and len(outcome) == 2
            and isinstance(outcome[0], bool)
            and isinstance(outcome[1], str)
        ):
            return outcome[0], outcome[1][:_DETAIL_CHARS]
        raise TypeError(
            f"{spec.entry_point} returned {type(outcome).__name__}; return a bool or (bool, str)"
        )

    return check
