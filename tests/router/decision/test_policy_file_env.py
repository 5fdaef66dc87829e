"""router.decision.policy_file: ${VAR} and ${VAR:-default} substitution."""

from __future__ import annotations

import pytest

from router.decision.policy_file import load_policy
from tests.router.conftest import WritePolicy, small_policy_data
from tests.router.decision.conftest import policy_error, with_tier_change


def test_env_variables_are_substituted_in_string_values(write_policy: WritePolicy) -> None:
    path = write_policy(with_tier_change(0, api_base="${UPSTREAM}/v1", model="openai/${SMALL}"))

    policy = load_policy(path, env={"UPSTREAM": "http://gpu:8000", "SMALL": "tiny"})

    assert policy.tiers[0].api_base == "http://gpu:8000/v1"
    assert policy.tiers[0].model == "openai/tiny"


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, "http://default:1"),
        ({"UPSTREAM": ""}, "http://default:1"),
        ({"UPSTREAM": "http://set:2"}, "http://set:2"),
    ],
)
def test_env_default_applies_when_the_variable_is_unset_or_empty(
    write_policy: WritePolicy, env: dict[str, str], expected: str
) -> None:
    path = write_policy(with_tier_change(1, api_base="${UPSTREAM:-http://default:1}"))

    assert load_policy(path, env=env).tiers[1].api_base == expected


def test_env_values_are_validated_like_written_ones(write_policy: WritePolicy) -> None:
    path = write_policy(with_tier_change(2, timeout_s="${DEEP_TIMEOUT:-120}"))

    assert load_policy(path, env={}).tiers[2].timeout_s == 120.0


def test_env_defaults_to_the_process_environment(
    write_policy: WritePolicy, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("POLICY_TEST_BASE", "http://from-env:9")
    path = write_policy(with_tier_change(0, api_base="${POLICY_TEST_BASE}"))

    assert load_policy(path).tiers[0].api_base == "http://from-env:9"


def test_unset_variable_names_variable_tier_and_field(write_policy: WritePolicy) -> None:
    path = write_policy(with_tier_change(1, fallbacks=["openai/x", "${FALLBACK_MODEL}"]))

    error = policy_error(path)

    assert str(error).startswith(f"{path}: tier 'mid': fallbacks[1]: ")
    assert "environment variable FALLBACK_MODEL is not set" in str(error)


def test_unset_variable_in_version_has_no_tier(write_policy: WritePolicy) -> None:
    data = small_policy_data() | {"version": "${POLICY_VERSION}"}

    error = policy_error(write_policy(data))

    assert str(error) == (
        f"{write_policy(data)}: version: environment variable POLICY_VERSION is not set"
        " (write ${POLICY_VERSION:-default} for a default)"
    )


def test_malformed_reference_is_refused(write_policy: WritePolicy) -> None:
    error = policy_error(write_policy(with_tier_change(0, api_base="${UPSTREAM")))

    assert "tier 'fast': api_base: malformed reference" in str(error)
