from __future__ import annotations

import re
from typing import Any

import pytest

from router.decision.prompt import CONTEXT_WORDS, SHORT_TURN_WORDS, extract_prompt, require_text
from router.errors import EmptyPromptError, RequestError

LONG_QUESTION = " ".join(f"word{i}" for i in range(SHORT_TURN_WORDS)) + "?"


def user(content: Any) -> dict[str, Any]:
    return {"role": "user", "content": content}


def assistant(content: Any) -> dict[str, Any]:
    return {"role": "assistant", "content": content}


def system(content: Any) -> dict[str, Any]:
    return {"role": "system", "content": content}


def test_single_user_turn_is_scored_as_it_is() -> None:
    prompt = extract_prompt([system("You are helpful."), user("  Prove that 17 is prime.  ")])

    assert prompt.text == "Prove that 17 is prime."
    assert prompt.turns == (1,)
    assert prompt.describe() == "the last user turn messages[1]"


def test_long_last_turn_is_scored_without_earlier_turns() -> None:
    prompt = extract_prompt([user("Earlier question"), assistant("answer"), user(LONG_QUESTION)])

    assert prompt.text == LONG_QUESTION
    assert prompt.turns == (2,)


def test_short_follow_up_borrows_earlier_user_turns_in_order() -> None:
    messages = [
        system("You are a maths tutor."),
        user("Solve x^2 - 5x + 6 = 0."),
        assistant("x = 2 or x = 3."),
        user("Now solve 2x^2 + 3x - 2 = 0."),
        assistant("x = 1/2 or x = -2."),
        user("and the second one?"),
    ]

    prompt = extract_prompt(messages)

    assert prompt.text == (
        "Solve x^2 - 5x + 6 = 0.\nNow solve 2x^2 + 3x - 2 = 0.\nand the second one?"
    )
    assert prompt.turns == (1, 3, 5)
    assert prompt.describe() == (
        "the last user turn messages[5] (short) with earlier user turns messages[1], messages[3]"
    )


def test_borrowed_context_stops_near_the_word_cap_keeping_the_newest_words() -> None:
    old = user("oldest turn that no longer fits")
    long_turn = " ".join(f"w{i}" for i in range(CONTEXT_WORDS * 2))
    messages = [old, user(long_turn), user("why?")]

    prompt = extract_prompt(messages)

    assert len(prompt.text.split()) == CONTEXT_WORDS
    assert prompt.text.endswith(f"w{CONTEXT_WORDS * 2 - 1}\nwhy?")
    assert "oldest" not in prompt.text
    assert prompt.turns == (1, 2)


def test_tool_and_assistant_turns_after_the_last_user_turn_are_ignored() -> None:
    messages = [
        user(LONG_QUESTION),
        {"role": "assistant", "content": None, "tool_calls": [{"id": "1"}]},
        {"role": "tool", "content": "tool output", "tool_call_id": "1"},
    ]

    assert extract_prompt(messages).text == LONG_QUESTION


def test_list_content_keeps_text_parts_and_ignores_images() -> None:
    content = [
        {"type": "text", "text": "What is in this picture?"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
        {"type": "text", "text": "Count the cats."},
    ]

    assert extract_prompt([user(content)]).text == "What is in this picture?\nCount the cats."


def test_image_only_follow_up_is_scored_from_earlier_turns() -> None:
    image = [{"type": "image_url", "image_url": {"url": "https://example.com/a.png"}}]

    prompt = extract_prompt([user("Describe each image I send."), user(image)])

    assert prompt.text == "Describe each image I send."
    assert prompt.turns == (0, 1)


@pytest.mark.parametrize("role", ["system", "developer"])
def test_without_user_turns_the_system_prompt_is_scored(role: str) -> None:
    messages = [{"role": role, "content": "Summarise the attached contract."}]

    prompt = extract_prompt(messages)

    assert prompt.text == "Summarise the attached contract."
    assert prompt.source == "system"
    assert prompt.describe() == "the system prompt messages[0] (no user turn)"


def test_system_prompt_is_not_scored_when_a_user_turn_exists() -> None:
    prompt = extract_prompt([system("Long shared boilerplate."), user("hi")])

    assert prompt.text == "hi"


@pytest.mark.parametrize(
    ("messages", "problem"),
    [
        ([user("   \n ")], "the user turns have no text to score"),
        ([user([{"type": "image_url", "image_url": {}}])], "the user turns have no text"),
        ([system(""), assistant("hello")], "there is no user turn, and no system prompt"),
        ([assistant("only the model spoke")], "there is no user turn"),
    ],
)
def test_nothing_to_score_is_an_empty_prompt_error(
    messages: list[dict[str, Any]], problem: str
) -> None:
    with pytest.raises(EmptyPromptError, match=problem) as caught:
        extract_prompt(messages)

    assert caught.value.param == "messages"
    assert caught.value.status_code == 400


@pytest.mark.parametrize(
    ("messages", "param", "problem"),
    [
        ("hello", "messages", "messages must be a list"),
        ({"role": "user"}, "messages", "messages must be a list"),
        ([], "messages", "at least one message"),
        ([user("hi"), "hi"], "messages[1]", "must be an object with 'role' and 'content'"),
        ([user("hi"), {"role": "bot", "content": "x"}], "messages[1].role", "not 'bot'"),
        ([{"content": "x"}], "messages[0].role", "not None"),
        ([user(42)], "messages[0].content", "a string or a list of content parts, not int"),
        ([user(["hi"])], "messages[0].content[0]", "must be an object with a string 'type'"),
        ([user([{"text": "hi"}])], "messages[0].content[0]", "a string 'type'"),
        (
            [user([{"type": "text", "text": "a"}, {"type": "text"}])],
            "messages[0].content[1]",
            "messages[0].content[1].text must be a string",
        ),
    ],
)
def test_malformed_messages_name_the_culprit(messages: Any, param: str, problem: str) -> None:
    with pytest.raises(RequestError, match=re.escape(problem)) as caught:
        extract_prompt(messages)

    assert caught.value.param == param
    assert not isinstance(caught.value, EmptyPromptError)


def test_require_text_refuses_whitespace() -> None:
    assert require_text(" x ") == " x "
    with pytest.raises(EmptyPromptError, match="text is empty: there is nothing to score"):
        require_text(" \t\n")
