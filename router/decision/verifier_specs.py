"""What the policy says of a verifier: its kind and settings, checked when the policy loads.

A policy may name checks under ``verifiers`` and refer to them from a tier's strategy::

    verifiers:
      json-answer: {kind: json_schema, schema: {type: object, required: [answer]}}
      total-line: {kind: regex, pattern: 'Total: \\d+'}
      agree: {kind: final_answer, min_agreement: 0.6}
      unit-tests: {kind: python, entry_point: "mypkg.checks:run_tests"}
    tiers:
      - name: fast
        strategy: {samples: 3, select: verifier, verifier: agree}
      - name: cheap
        strategy: {samples: 1, verifier: json-answer, cascade: true}

Kinds: ``final_answer`` (the samples agree: the share of samples whose final answer, as
``router.upstream.voting.final_answer`` reads it, equals the chosen one is at least
``min_agreement``; needs two samples or more), ``numeric`` (the final answer is a number,
optionally within ``[min, max]``), ``regex`` (the pattern is found in the answer, ``search``
semantics), ``json_schema`` (the answer, or its first fenced JSON block, is JSON valid against
``schema``), ``python`` (``module:function`` called with the answer text and the request's
messages, returning a bool or ``(bool, detail)``). ``final_answer`` and ``numeric`` also exist
under their own names without being declared.

Everything here is checked at load: the pattern compiles, the schema is a valid JSON schema,
the entry point imports and is callable; the checks themselves run in
``router.upstream.verifiers``.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable
from typing import Annotated, Any, Final, Literal, cast

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

__all__ = [
    "BUILT_IN_VERIFIERS",
    "FinalAnswerSpec",
    "JsonSchemaSpec",
    "NumericSpec",
    "PythonSpec",
    "RegexSpec",
    "VerifierSpec",
    "load_entry_point",
]

_ENTRY_POINT: Final = re.compile(r"[A-Za-z_][\w.]*:[A-Za-z_]\w*")


class _Spec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class FinalAnswerSpec(_Spec):
    """The samples agree on a final answer."""

    kind: Literal["final_answer"]
    min_agreement: float = Field(default=0.5, gt=0.0, le=1.0)


class NumericSpec(_Spec):
    """The final answer is a number (within ``[min, max]`` when given)."""

    kind: Literal["numeric"]
    min: float | None = None
    max: float | None = None

    @model_validator(mode="after")
    def _ordered(self) -> NumericSpec:
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min {self.min:g} is above max {self.max:g}")
        return self


class RegexSpec(_Spec):
    """The answer contains a match of ``pattern``."""

    kind: Literal["regex"]
    pattern: str = Field(min_length=1)

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, pattern: str) -> str:
        try:
            re.compile(pattern)
        except re.error as exc:
            raise ValueError(f"pattern {pattern!r} does not compile: {exc}") from exc
        return pattern


class JsonSchemaSpec(_Spec):
    """The answer is JSON valid against ``schema``."""

    kind: Literal["json_schema"]
    schema_: dict[str, Any] = Field(alias="schema")

    @field_validator("schema_")
    @classmethod
    def _valid_schema(cls, schema: dict[str, Any]) -> dict[str, Any]:
        import jsonschema  # 50 ms at import: only a policy with such a verifier needs it

        try:
            jsonschema.validators.validator_for(schema).check_schema(schema)
        except jsonschema.SchemaError as exc:
            raise ValueError(f"not a valid JSON schema: {exc.message}") from exc
        return schema


class PythonSpec(_Spec):
    """A function of the answer and the messages: ``module:function``."""

    kind: Literal["python"]
    entry_point: str

    @field_validator("entry_point")
    @classmethod
    def _importable(cls, entry_point: str) -> str:
        load_entry_point(entry_point)
        return entry_point


VerifierSpec = Annotated[
    FinalAnswerSpec | NumericSpec | RegexSpec | JsonSchemaSpec | PythonSpec,
    Field(discriminator="kind"),
]

SPEC_KINDS: Final[dict[str, type[BaseModel]]] = {
    "final_answer": FinalAnswerSpec,
    "numeric": NumericSpec,
    "regex": RegexSpec,
    "json_schema": JsonSchemaSpec,
    "python": PythonSpec,
}

BUILT_IN_VERIFIERS: Final[dict[str, FinalAnswerSpec | NumericSpec]] = {
    "final_answer": FinalAnswerSpec(kind="final_answer"),
    "numeric": NumericSpec(kind="numeric"),
}


def load_entry_point(entry_point: str) -> Callable[..., Any]:
    """The callable ``module:function`` names; ``ValueError`` saying why it cannot be had."""
    if not _ENTRY_POINT.fullmatch(entry_point):
        raise ValueError(f"{entry_point!r} is not an entry point like 'package.module:function'")
    module_name, function_name = entry_point.split(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ValueError(f"cannot import {module_name!r}: {exc}") from exc
    function: object = getattr(module, function_name, None)
    if not callable(function):
        raise ValueError(f"{module_name!r} has no callable {function_name!r}")
    return cast(Callable[..., Any], function)
