"""router.decision.policy_file: the file itself (YAML errors, a missing or non-UTF-8
file, a document that is not a mapping) and how its version is read."""

from __future__ import annotations

from pathlib import Path

import pytest

from router.decision.policy_file import load_policy
from tests.router.conftest import WritePolicy, small_policy_data
from tests.router.decision.conftest import policy_error


def test_yaml_syntax_error_gives_the_line(write_policy: WritePolicy) -> None:
    path = write_policy('version: "v"\ntiers:\n  - name: fast\n    band: [0.0, 1.0\n')

    error = policy_error(path)

    assert str(error).startswith(f"{path}: invalid YAML at line 5")


def test_duplicate_yaml_key_gives_the_line(write_policy: WritePolicy) -> None:
    text = 'version: "v"\ntiers:\n  - name: a\n    model: openai/x\n    model: openai/y\n'

    error = policy_error(write_policy(text))

    assert "invalid YAML at line 5, column 5: found duplicate key 'model'" in str(error)


@pytest.mark.parametrize("text", ["", "- just\n- a list\n", "just text\n"])
def test_document_that_is_not_a_mapping_is_refused(write_policy: WritePolicy, text: str) -> None:
    assert "expected a mapping with 'version' and 'tiers'" in str(policy_error(write_policy(text)))


def test_missing_file_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "absent.yaml"

    assert str(policy_error(path)) == f"{path}: file not found"


def test_non_utf8_file_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes('version: "caf\xe9"\n'.encode("latin-1"))

    assert str(policy_error(path)) == f"{path}: not UTF-8 text (byte 13)"


def test_unquoted_date_version_is_kept_as_text(write_policy: WritePolicy) -> None:
    text = "version: 2026-11-29\n" + write_policy(small_policy_data()).read_text().replace(
        "version: test-1\n", ""
    )

    assert load_policy(write_policy(text, "dated.yaml"), env={}).version == "2026-11-29"


def test_unquoted_number_version_asks_for_quotes(write_policy: WritePolicy) -> None:
    error = policy_error(write_policy(small_policy_data() | {"version": 1.10}))

    assert "version: 1.1 was read as a number: quote the version" in str(error)
