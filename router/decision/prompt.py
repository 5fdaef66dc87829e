"""Which text of a chat request gets scored.

The classifier sees one text per request, picked from the OpenAI-style ``messages``:

- **The last user turn** is the task, even when assistant or tool turns follow it (a tool loop
  still works on the user's request).
- **A short last turn borrows context.** Under ``SHORT_TURN_WORDS`` words ("and the second
  one?", "make it faster") says little on its own, so earlier user turns are prepended, newest
  first, until the text holds about ``CONTEXT_WORDS`` words; the turn that would overflow is cut
  to its last words, which sit closest to the follow-up. The text stays in chronological order,
  one turn per line, and the cap keeps it near the encoder's 256 word-piece window so that the
  newest turn is not truncated away.
- **System prompts and assistant turns are not scored.** A system prompt is shared application
  boilerplate, the same for easy and hard requests; assistant turns are model output, not the
  task. With no user turn at all, the system (or developer) prompts are the only statement of
  the task, so they are scored instead.
- **Only text counts.** ``content`` is a string, ``None``, or a list of parts; parts of type
  ``text`` are joined one per line, other parts (``image_url``, ``input_audio``, ``file``...) are
  ignored.

Malformed messages are a ``RequestError`` whose ``param`` points at the culprit
(``messages[2].content[0].text``); nothing to score is an ``EmptyPromptError``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from router.errors import EmptyPromptError, RequestError

__all__ = [
    "CONTEXT_WORDS",
    "SHORT_TURN_WORDS",
    "Prompt",
    "Turn",
    "extract_prompt",
    "parse_messages",
    "require_text",
]

SHORT_TURN_WORDS = 32
CONTEXT_WORDS = 200

ROLES = frozenset({"system", "developer", "user", "assistant", "tool", "function"})
INSTRUCTION_ROLES = frozenset({"system", "developer"})

_WORD = re.compile(r"\S+")


@dataclass(frozen=True, slots=True)
class Turn:
    """One message reduced to what scoring needs; ``index`` is its position in ``messages``."""

    index: int
    role: str
    text: str


@dataclass(frozen=True, slots=True)
class Prompt:
    """The scored text and where it came from; ``turns`` are message indices in text order."""

    text: str
    turns: tuple[int, ...]
    source: Literal["user", "system"]

    def describe(self) -> str:
        """Which messages were used, for decision reasons."""
        names = [f"messages[{index}]" for index in self.turns]
        if self.source == "system":
            return f"the system prompt {', '.join(names)} (no user turn)"
        if len(names) == 1:
            return f"the last user turn {names[0]}"
        earlier = ", ".join(names[:-1])
        return f"the last user turn {names[-1]} (short) with earlier user turns {earlier}"


def extract_prompt(messages: object) -> Prompt:
    """The text to score for a chat request; see the module docstring for the rules."""
    turns = parse_messages(messages)
    users = [turn for turn in turns if turn.role == "user"]
    if users:
        prompt = _from_user_turns(users)
        problem = "the user turns have no text to score (empty, or only non-text parts)"
    else:
        prompt = _from_system_turns(turns)
        problem = "there is no user turn, and no system prompt to score instead"
    if not prompt.text:
        raise EmptyPromptError(problem, param="messages")
    return prompt


def require_text(text: str, param: str = "text") -> str:
    """``text`` itself, unless it is empty or whitespace (``EmptyPromptError``)."""
    if not text.strip():
        raise EmptyPromptError(f"{param} is empty: there is nothing to score", param=param)
    return text


def parse_messages(messages: object) -> list[Turn]:
    """Validate the shape of ``messages`` and reduce each message to its role and text."""
    if not isinstance(messages, Sequence) or isinstance(messages, str | bytes):
        raise RequestError("messages must be a list of message objects", param="messages")
    if not messages:
        raise RequestError("messages must hold at least one message", param="messages")
    return [_parse_message(index, message) for index, message in enumerate(messages)]


def _parse_message(index: int, message: object) -> Turn:
    param = f"messages[{index}]"
    if not isinstance(message, dict):
        raise RequestError(f"{param} must be an object with 'role' and 'content'", param=param)
    role = message.get("role")
    if role not in ROLES:
        raise RequestError(
            f"{param}.role must be one of {', '.join(sorted(ROLES))}, not {role!r}",
            param=f"{param}.role",
        )
    return Turn(index, str(role), _content_text(message.get("content"), f"{param}.content"))


def _content_text(content: object, param: str) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = (_part_text(part, f"{param}[{i}]") for i, part in enumerate(content))
        return "\n".join(text for text in parts if text)
    raise RequestError(
        f"{param} must be a string or a list of content parts, not {type(content).__name__}",
        param=param,
    )


def _part_text(part: object, param: str) -> str:
    if not isinstance(part, dict) or not isinstance(part.get("type"), str):
        raise RequestError(f"{param} must be an object with a string 'type'", param=param)
    if part["type"] != "text":
        return ""
    text = part.get("text")
    if not isinstance(text, str):
        raise RequestError(f"{param}.text must be a string for a part of type 'text'", param=param)
    return text


def _from_user_turns(users: Sequence[Turn]) -> Prompt:
    last = users[-1]
    pieces, indices = [last.text.strip()], [last.index]
    room = CONTEXT_WORDS - _count_words(last.text)
    if _count_words(last.text) < SHORT_TURN_WORDS:
        for turn in reversed(users[:-1]):
            if room <= 0:
                break
            if words := _count_words(turn.text):
                pieces.append(_last_words(turn.text, room).strip())
                indices.append(turn.index)
                room -= words
    text = "\n".join(piece for piece in reversed(pieces) if piece)
    return Prompt(text, tuple(reversed(indices)), "user")


def _from_system_turns(turns: Sequence[Turn]) -> Prompt:
    system = [turn for turn in turns if turn.role in INSTRUCTION_ROLES and turn.text.strip()]
    text = "\n".join(turn.text.strip() for turn in system)
    return Prompt(text, tuple(turn.index for turn in system), "system")


def _count_words(text: str) -> int:
    return len(text.split())


def _last_words(text: str, count: int) -> str:
    """The tail of ``text`` holding its last ``count`` words, formatting kept."""
    starts = [match.start() for match in _WORD.finditer(text)]
    return text if count >= len(starts) else text[starts[-count] :]
