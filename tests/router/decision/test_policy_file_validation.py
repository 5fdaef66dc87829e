"""router.decision.policy_file: invalid tiers and policies are reported with file, tier
and field."""

from __future__ import annotations

from typing import Any

import pytest

from tests.router.conftest import WritePolicy, small_policy_data, tier_data
from tests.router.decision.conftest import policy_error, with_tier_change, with_tiers

BAD_TIERS: list[tuple[str, dict[str, Any], str, str, str]] = [
    (
        "overlap",
        with_tiers(tier_data("a", (0.0, 0.5)), tier_data("b", (0.4, 1.0))),
        "b",
        "band",
        "band [0.4, 1] overlaps tier 'a' [0, 0.5] on [0.4, 0.5): it must start at 0.5",
    ),
    (
        "gap",
        with_tiers(tier_data("a", (0.0, 0.4)), tier_data("b", (0.5, 1.0))),
        "b",
        "band",
        "scores in [0.4, 0.5) have no tier",
    ),
    (
        "first band after 0",
        with_tiers(tier_data("a", (0.1, 1.0))),
        "a",
        "band",
        "scores in [0, 0.1) have no tier: the first band must start at 0",
    ),
    (
        "last band before 1",
        with_tiers(tier_data("a", (0.0, 0.5)), tier_data("b", (0.5, 0.9))),
        "b",
        "band",
        "scores in (0.9, 1] have no tier: the last band must end at 1",
    ),
    (
        "empty band",
        with_tiers(tier_data("a", (0.0, 0.6)), tier_data("b", (0.6, 0.5))),
        "b",
        "band",
        "band [0.6, 0.5] is empty",
    ),
    (
        "band leaves [0, 1]",
        with_tiers(tier_data("a", (0.0, 1.5))),
        "a",
        "band",
        "band [0, 1.5] leaves [0, 1]",
    ),
    (
        "tiers out of order",
        with_tiers(
            tier_data("a", (0.0, 0.5)), tier_data("c", (0.7, 1.0)), tier_data("b", (0.5, 0.7))
        ),
        "b",
        "band",
        "list tiers in band order, cheapest first",
    ),
    (
        "unknown effort",
        with_tier_change(1, budget={"effort": "extreme", "max_tokens": 100}),
        "mid",
        "budget.effort",
        "must be 'none', 'low', 'medium' or 'high', not 'extreme'",
    ),
    (
        "budget_tokens not below max_tokens",
        with_tier_change(2, budget={"budget_tokens": 4096, "max_tokens": 4096}),
        "deep",
        "budget",
        "budget_tokens 4096 must be below max_tokens 4096",
    ),
    (
        "no samples",
        with_tier_change(2, strategy={"samples": 0, "select": "majority_vote"}),
        "deep",
        "strategy.samples",
        "must be greater than or equal to 1, not 0",
    ),
    (
        "unknown select",
        with_tier_change(2, strategy={"samples": 3, "select": "best"}),
        "deep",
        "strategy.select",
        "not 'best'",
    ),
    (
        "duplicate names",
        with_tiers(tier_data("a", (0.0, 0.5)), tier_data("a", (0.5, 1.0))),
        "a",
        "name",
        "duplicate tier name",
    ),
    (
        "unknown tier key",
        with_tier_change(0, modle="openai/typo"),
        "fast",
        "modle",
        "unknown key (known keys: name, band, model,",
    ),
    (
        "unknown budget key",
        with_tier_change(0, budget={"effrt": "low", "max_tokens": 100}),
        "fast",
        "budget.effrt",
        "unknown key (known keys: effort, budget_tokens, max_tokens, min_tokens)",
    ),
    (
        "missing model",
        {
            "version": "v",
            "tiers": [{k: v for k, v in tier_data("a", (0, 1)).items() if k != "model"}],
        },
        "a",
        "model",
        "required key is missing",
    ),
    (
        "band with three numbers",
        with_tier_change(0, band=[0.0, 0.2, 0.3]),
        "fast",
        "band",
        "Tuple should have at most 2 items",
    ),
    (
        "reserved name",
        with_tier_change(0, name="auto"),
        "auto",
        "name",
        "'auto' is reserved",
    ),
    (
        "api_base not a URL",
        with_tier_change(0, api_base="localhost:8000"),
        "fast",
        "api_base",
        "'localhost:8000' is not an http:// or https:// URL",
    ),
    (
        "fallback is the tier's own model",
        with_tier_change(0, fallbacks=["openai/fast-model"]),
        "fast",
        "fallbacks",
        "lists the tier's own model openai/fast-model",
    ),
    (
        "unknown reasoning control",
        with_tier_change(0, reasoning="vllm"),
        "fast",
        "reasoning",
        "'chat_template' or 'none', not 'vllm'",
    ),
    (
        "negative timeout",
        with_tier_change(1, timeout_s=-1),
        "mid",
        "timeout_s",
        "must be greater than 0, not -1",
    ),
    (
        "negative price",
        with_tier_change(0, price={"input_per_mtok": -1, "output_per_mtok": 2}),
        "fast",
        "price.input_per_mtok",
        "must be greater than or equal to 0",
    ),
    (
        "price without its output side",
        with_tier_change(0, price={"input_per_mtok": 1}),
        "fast",
        "price.output_per_mtok",
        "required key is missing",
    ),
    (
        "price key litellm spells per token",
        with_tier_change(
            0, price={"input_per_mtok": 1, "output_per_mtok": 2, "input_cost_per_token": 1e-6}
        ),
        "fast",
        "price.input_cost_per_token",
        "unknown key",
    ),
]


@pytest.mark.parametrize(
    ("data", "tier", "field", "problem"),
    [case[1:] for case in BAD_TIERS],
    ids=[case[0] for case in BAD_TIERS],
)
def test_invalid_tier_is_reported_with_file_tier_and_field(
    write_policy: WritePolicy, data: dict[str, Any], tier: str, field: str, problem: str
) -> None:
    path = write_policy(data)

    error = policy_error(path)

    assert str(error).startswith(f"{path}: tier '{tier}': {field}: ")
    assert problem in str(error)
    assert (error.source, error.tier, error.field) == (str(path), tier, field)


def test_no_tiers_is_refused(write_policy: WritePolicy) -> None:
    path = write_policy({"version": "v", "tiers": []})

    assert (
        str(policy_error(path)) == f"{path}: tiers: no tiers: a policy needs tiers covering [0, 1]"
    )


def test_unknown_top_level_key_is_refused(write_policy: WritePolicy) -> None:
    path = write_policy(small_policy_data() | {"defaults": {}})

    assert (
        str(policy_error(path))
        == f"{path}: defaults: unknown key (known keys: version, verifiers, spend_caps, tiers)"
    )


def test_several_problems_report_the_first_and_count_the_rest(write_policy: WritePolicy) -> None:
    data = with_tier_change(0, timeout_s=0, model="")

    assert "(and 1 more problem(s))" in str(policy_error(write_policy(data)))


def test_tier_without_a_name_is_identified_by_position(write_policy: WritePolicy) -> None:
    data = with_tiers(tier_data("a", (0.0, 0.5)), tier_data("", (0.5, 1.0), timeout_s=0))

    assert "tier '#2': " in str(policy_error(write_policy(data)))
