"""``router keys create|list|revoke`` against the keys file the service reads."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner

from router.access.keystore import KeyFile
from router.cli.keys import keys_app
from router.settings import Settings


@dataclass
class _Deps:
    data_dir: Path

    def settings(self) -> Settings:
        return Settings(data_dir=self.data_dir)


def _invoke(tmp_path: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(keys_app, list(args), obj=_Deps(tmp_path))
    return result.exit_code, result.output


@pytest.mark.anyio
async def test_create_prints_the_token_once_and_stores_its_hash(tmp_path: Path) -> None:
    code, output = _invoke(tmp_path, "create", "ci-bot", "--scope", "chat", "--rpm", "5", "--json")
    assert code == 0, output
    created = json.loads(output)
    assert created["scopes"] == ["chat"]
    assert created["limits"]["requests_per_minute"] == 5
    store = KeyFile(tmp_path / "api-keys.json")
    assert created["token"] not in store.path.read_text()
    found = (await store.find(created["id"])).key
    assert found is not None and found.matches(created["token"])


def test_list_shows_keys_without_tokens_and_revoke_marks_them(tmp_path: Path) -> None:
    _, output = _invoke(tmp_path, "create", "app", "--scope", "chat", "--scope", "pin", "--json")
    created = json.loads(output)
    assert _invoke(tmp_path, "revoke", created["id"])[0] == 0
    code, output = _invoke(tmp_path, "list", "--json")
    (listed,) = json.loads(output)
    assert code == 0
    assert listed["id"] == created["id"] and listed["revoked_at"] is not None
    assert "token" not in listed and "token_sha256" not in listed


def test_revoking_an_unknown_key_exits_2_naming_it(tmp_path: Path) -> None:
    code, output = _invoke(tmp_path, "revoke", "key_000000000000")
    assert code == 2
    assert "key_000000000000" in output


def test_an_unknown_scope_is_refused(tmp_path: Path) -> None:
    code, output = _invoke(tmp_path, "create", "app", "--scope", "everything")
    assert code == 2
    assert "everything" in output
