"""Heavy libraries are imported where used: the CLI starts without litellm, torch, sklearn,
httpx, jsonschema."""

from __future__ import annotations

import subprocess
import sys

import pytest

HEAVY = (
    "litellm",
    "openai",
    "torch",
    "transformers",
    "sentence_transformers",
    "sklearn",
    "redis",
    "httpx",  # 40 ms: only calls upstream (and its failures) need it
    "jsonschema",  # 50 ms: only a JSON-schema verifier needs it
)


def imported_after(statement: str) -> list[str]:
    code = f"import sys; {statement}; print(' '.join(sorted(set(sys.modules) & {set(HEAVY)!r})))"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    return result.stdout.split()


@pytest.mark.parametrize(
    "module",
    [
        "router.cli.main",
        "router.upstream.client",
        "router.service.model_store",
        "classifiers.artifacts.store",
    ],
)
def test_importing_imports_no_heavy_library(module: str) -> None:
    assert imported_after(f"import {module}") == []


def test_the_help_imports_no_heavy_library() -> None:
    statement = (
        "from typer.testing import CliRunner; from router.cli.main import app;"
        " CliRunner().invoke(app, ['--help'])"
    )
    assert imported_after(statement) == []
