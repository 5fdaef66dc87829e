from __future__ import annotations

import asyncio
from typing import Any

import pytest

from router.decision.policy_file import load_policy
from router.decision.verifier_specs import (
    FinalAnswerSpec,
    JsonSchemaSpec,
    NumericSpec,
    PythonSpec,
    RegexSpec,
)
from router.errors import PolicyError
from router.upstream.verifiers import Verdict, Verifier
from tests.router.conftest import WritePolicy, small_policy_data

HERE = "tests.router.upstream.test_verifiers"
MESSAGES = [{"role": "user", "content": "what is 6 x 7?"}]


def choose(verifier: Verifier, texts: list[str]) -> tuple[int, Verdict]:
    return asyncio.run(verifier.choose(texts, MESSAGES))


def says_ok_when_it_mentions_the_question(answer: str, messages: list[dict[str, Any]]) -> Any:
    """A custom verifier for the tests: passes answers that repeat the question's numbers."""
    asked = str(messages[-1]["content"])
    return ("6" in answer and "7" in answer) == ("6" in asked), "mentions 6 and 7"


def raises(answer: str, messages: list[dict[str, Any]]) -> bool:
    raise RuntimeError("the test suite crashed")


def returns_a_number(answer: str, messages: list[dict[str, Any]]) -> Any:
    return 1


def test_final_answer_picks_the_majority_and_passes_when_enough_agree() -> None:
    verifier = Verifier("agree", FinalAnswerSpec(kind="final_answer", min_agreement=0.6))

    index, verdict = choose(verifier, ["It is 41", "so 42", "The answer is 42."])
    assert (index, verdict.passed, verdict.detail) == (1, True, "2 of 3 agree")

    index, verdict = choose(verifier, ["41", "42", "43"])
    assert (index, verdict.passed, verdict.detail) == (0, False, "1 of 3 agree")


def test_numeric_checks_the_final_answer_is_a_number_in_range() -> None:
    verifier = Verifier("num", NumericSpec(kind="numeric", min=0, max=100))

    assert (choose(verifier, ["The answer is 42."]))[1].passed
    _, verdict = choose(verifier, ["The answer is blue."])
    assert not verdict.passed
    assert "not a number" in verdict.detail
    _, verdict = choose(verifier, ["so \\boxed{420}"])
    assert (verdict.passed, verdict.detail) == (False, "420 is above 100")


def test_regex_picks_the_first_sample_with_a_match() -> None:
    verifier = Verifier("total", RegexSpec(kind="regex", pattern=r"Total: \d+"))

    index, verdict = choose(verifier, ["no total", "Total: 12", "Total: 13"])
    assert (index, verdict.passed, verdict.detail) == (1, True, "sample 2 of 3")

    index, verdict = choose(verifier, ["no total", "none"])
    assert (index, verdict.passed) == (0, False)
    assert verdict.detail == "none of 2 samples: no match for 'Total: \\\\d+'"


def test_json_schema_reads_plain_or_fenced_json_and_names_the_violation() -> None:
    schema = {
        "type": "object",
        "required": ["answer"],
        "properties": {"answer": {"type": "integer"}},
    }
    verifier = Verifier(
        "json", JsonSchemaSpec.model_validate({"kind": "json_schema", "schema": schema})
    )

    assert (choose(verifier, ['{"answer": 42}']))[1].passed
    assert (choose(verifier, ['Here:\n```json\n{"answer": 42}\n```']))[1].passed
    _, verdict = choose(verifier, ['{"answer": "42"}'])
    assert (verdict.passed, verdict.detail) == (False, "answer: '42' is not of type 'integer'")
    _, verdict = choose(verifier, ["forty-two"])
    assert (verdict.passed, verdict.detail) == (False, "the answer is not JSON")


def test_python_entry_point_gets_the_answer_and_the_messages() -> None:
    entry = f"{HERE}:says_ok_when_it_mentions_the_question"
    verifier = Verifier("custom", PythonSpec(kind="python", entry_point=entry))

    _, verdict = choose(verifier, ["6 times 7 is 42"])
    assert (verdict.passed, verdict.detail) == (True, "mentions 6 and 7")
    assert not (choose(verifier, ["42"]))[1].passed


def test_a_custom_verifier_that_raises_or_returns_junk_fails_the_check_naming_why() -> None:
    crashing = Verifier(
        "crash",
        PythonSpec(kind="python", entry_point=f"{HERE}:raises"),
    )
    _, verdict = choose(crashing, ["42"])
    assert (verdict.passed, verdict.detail) == (
        False,
        "raised RuntimeError: the test suite crashed",
    )

    junk = Verifier(
        "junk",
        PythonSpec(kind="python", entry_point=f"{HERE}:returns_a_number"),
    )
    _, verdict = choose(junk, ["42"])
    assert not verdict.passed
    assert "returned int; return a bool or (bool, str)" in verdict.detail


# --- the policy's verifier fields ----------------------------------------------------------


def with_strategy(index: int, strategy: dict[str, Any], **top: Any) -> dict[str, Any]:
    data = small_policy_data() | top
    data["tiers"][index]["strategy"] = strategy
    return data


def test_policy_declares_verifiers_and_tiers_refer_to_them(write_policy: WritePolicy) -> None:
    verifiers = {"json-answer": {"kind": "json_schema", "schema": {"type": "object"}}}
    data = with_strategy(
        0, {"samples": 1, "verifier": "json-answer", "cascade": True}, verifiers=verifiers
    )
    data["tiers"][1]["strategy"] = {"samples": 3, "select": "verifier", "verifier": "final_answer"}

    policy = load_policy(write_policy(data), env={})

    assert policy.tiers[0].strategy.cascade
    assert isinstance(policy.verifier_spec("json-answer"), JsonSchemaSpec)
    assert isinstance(policy.verifier_spec("final_answer"), FinalAnswerSpec)
    assert policy.next_tier(policy.tiers[0]) == policy.tiers[1]
    assert policy.next_tier(policy.tiers[-1]) is None


BAD_STRATEGIES: list[tuple[str, int, dict[str, Any], dict[str, Any], str, str]] = [
    (
        "unknown verifier",
        0,
        {"verifier": "nope", "cascade": True},
        {},
        "strategy.verifier",
        "no verifier named 'nope'",
    ),
    (
        "select without verifier",
        0,
        {"select": "verifier"},
        {},
        "strategy",
        "select: verifier needs `verifier`",
    ),
    ("cascade without verifier", 0, {"cascade": True}, {}, "strategy", "cascade needs `verifier`"),
    (
        "agreement of one sample",
        0,
        {"samples": 1, "select": "verifier", "verifier": "final_answer"},
        {},
        "strategy.samples",
        "needs samples >= 2",
    ),
    (
        "cascade from the top",
        2,
        {"verifier": "numeric", "cascade": True},
        {},
        "strategy.cascade",
        "no tier to escalate to",
    ),
]


@pytest.mark.parametrize(
    ("index", "strategy", "top", "field", "problem"),
    [case[1:] for case in BAD_STRATEGIES],
    ids=[case[0] for case in BAD_STRATEGIES],
)
def test_bad_strategy_fields_are_refused_naming_tier_and_field(
    write_policy: WritePolicy,
    index: int,
    strategy: dict[str, Any],
    top: dict[str, Any],
    field: str,
    problem: str,
) -> None:
    data = with_strategy(index, strategy, **top)
    path = write_policy(data)

    with pytest.raises(PolicyError) as caught:
        load_policy(path, env={})

    name = data["tiers"][index]["name"]
    assert (caught.value.tier, caught.value.field) == (name, field)
    assert problem in str(caught.value)


@pytest.mark.parametrize(
    ("spec", "field", "problem"),
    [
        (
            {"kind": "regex", "pattern": "(unclosed"},
            "verifiers.v.regex.pattern",
            "does not compile",
        ),
        (
            {"kind": "json_schema", "schema": {"type": "nonsense"}},
            "verifiers.v.json_schema.schema",
            "not a valid JSON schema",
        ),
        (
            {"kind": "python", "entry_point": "no_such_module_xyz:check"},
            "verifiers.v.python.entry_point",
            "cannot import 'no_such_module_xyz'",
        ),
        (
            {"kind": "python", "entry_point": "json:no_such_function"},
            "verifiers.v.python.entry_point",
            "has no callable 'no_such_function'",
        ),
        (
            {"kind": "python", "entry_point": "not an entry point"},
            "verifiers.v.python.entry_point",
            "is not an entry point",
        ),
        (
            {"kind": "regex", "pattern": "x", "flags": 1},
            "verifiers.v.regex.flags",
            "unknown key (known keys: kind, pattern)",
        ),
        ({"kind": "crystal_ball"}, "verifiers.v", "crystal_ball"),
    ],
)
def test_bad_verifier_declarations_are_refused_naming_the_field(
    write_policy: WritePolicy, spec: dict[str, Any], field: str, problem: str
) -> None:
    path = write_policy(small_policy_data() | {"verifiers": {"v": spec}})

    with pytest.raises(PolicyError) as caught:
        load_policy(path, env={})

    assert caught.value.field == field
    assert problem in str(caught.value)
