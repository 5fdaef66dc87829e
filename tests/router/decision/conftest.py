"""Helpers for the policy tests: policies with chosen tiers, and the error a policy file raises."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from router.decision.policy_file import load_policy
from router.errors import PolicyError
from tests.router.conftest import small_policy_data


def policy_error(path: Path, env: dict[str, str] | None = None) -> PolicyError:
    with pytest.raises(PolicyError) as caught:
        load_policy(path, env={} if env is None else env)
    return caught.value


def with_tiers(*tiers: dict[str, Any]) -> dict[str, Any]:
    return {"version": "test-1", "tiers": list(tiers)}


def with_tier_change(index: int, **changes: Any) -> dict[str, Any]:
    data = small_policy_data()
    data["tiers"][index].update(changes)
    return data
