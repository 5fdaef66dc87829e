"""What counts as an answer: an upstream's HTTP 200 is not one unless it carries a choice.

An answer without choices (``"choices": []``), or whose choices hold neither text, a refusal nor
a tool call, is a failure of that upstream, like a 5xx: the caller tries the fallbacks, and if
none answers the client gets an ``EmptyAnswerError`` (502), never an empty success. A stream is
empty if it ends (``[DONE]``) before any chunk carrying some of such an answer.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["has_answer", "starts_answer"]


_ANSWER_FIELDS = ("content", "refusal", "tool_calls", "function_call", "reasoning_content")


def _says_something(part: object) -> bool:
    return isinstance(part, Mapping) and any(part.get(name) for name in _ANSWER_FIELDS)


def has_answer(response: Mapping[str, Any]) -> bool:
    """Whether a completion has a choice with content, a refusal or tool calls."""
    choices = response.get("choices") or ()
    return any(_says_something(choice.get("message")) for choice in choices)


def starts_answer(chunk: Mapping[str, Any]) -> bool:
    """Whether a stream chunk carries some of the answer (not only a role, a finish reason or
    usage: litellm sends such chunks even for a stream that was only ``[DONE]``)."""
    choices = chunk.get("choices") or ()
    return any(_says_something(choice.get("delta")) for choice in choices)
