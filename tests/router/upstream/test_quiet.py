"""router.upstream.quiet: the one litellm warning silenced at run time, and only that one."""

from __future__ import annotations

import tomllib
import warnings
from pathlib import Path

from router.upstream.quiet import UNSENT_CALL_WARNING, import_litellm

PYPROJECT = Path(__file__).parents[3] / "pyproject.toml"


def test_an_unsent_litellm_request_is_not_warned_about_but_other_coroutines_are() -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        import_litellm()
        for name in (
            "OpenAIChatCompletion.acompletion",
            "BaseLLMHTTPHandler.async_completion",
            "async_completion",
            "Upstream.complete",
        ):
            warnings.warn(f"coroutine '{name}' was never awaited", RuntimeWarning, stacklevel=1)

    assert [str(warning.message) for warning in caught] == [
        "coroutine 'Upstream.complete' was never awaited"
    ]


def test_the_tests_silence_the_same_pattern_as_the_service() -> None:
    options = tomllib.loads(PYPROJECT.read_text())["tool"]["pytest"]["ini_options"]

    assert f"ignore:{UNSENT_CALL_WARNING}:RuntimeWarning" in options["filterwarnings"]
