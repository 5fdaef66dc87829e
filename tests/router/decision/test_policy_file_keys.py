"""router.decision.policy_file: keys are named by variable, never written or echoed."""

from __future__ import annotations

from tests.router.conftest import WritePolicy
from tests.router.decision.conftest import policy_error, with_tier_change


def test_inline_api_key_is_refused_without_echoing_it(write_policy: WritePolicy) -> None:
    path = write_policy(with_tier_change(0, api_key="sk-live-secret"))

    error = policy_error(path)

    assert str(error).startswith(f"{path}: tier 'fast': api_key: keys must not be written")
    assert "sk-live-secret" not in str(error)


def test_key_pasted_into_api_key_env_is_refused_without_echoing_it(
    write_policy: WritePolicy,
) -> None:
    path = write_policy(with_tier_change(2, api_key_env="sk-ant-secret-123"))

    error = policy_error(path)

    assert str(error).startswith(f"{path}: tier 'deep': api_key_env: must be the name of")
    assert "sk-ant-secret" not in str(error)


def test_api_key_env_must_name_the_variable_not_substitute_it(write_policy: WritePolicy) -> None:
    path = write_policy(with_tier_change(0, api_key_env="${OPENAI_API_KEY}"))

    error = policy_error(path, env={"OPENAI_API_KEY": "sk-secret"})

    assert "tier 'fast': api_key_env: write the variable's name" in str(error)
    assert "sk-secret" not in str(error)
