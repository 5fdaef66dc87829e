"""The shipped classifier, loaded as users get it: real encoder, models/CURRENT, default policy."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from router.cli.main import app

COMPETITION_MATH = (
    "Let $S$ be the set of positive integers $n$ for which $\\frac{1}{n}$ has a repeating decimal"
    " of period exactly 12. Given that $9901$ is prime, how many elements does $S$ have?"
)


def route(text: str) -> dict[str, object]:
    result = CliRunner().invoke(app, ["route", text, "--json"])
    assert result.exit_code == 0, result.output
    decision: dict[str, object] = json.loads(result.stdout)
    return decision


@pytest.mark.slow
def test_small_talk_and_competition_maths_get_different_tiers() -> None:
    hello, olympiad = route("hi"), route(COMPETITION_MATH)

    assert hello["tier"] != olympiad["tier"]
    assert float(str(hello["score"])) < 0.1 < float(str(olympiad["score"]))
    assert hello["classifier_version"] == olympiad["classifier_version"]
