"""Where the fleet's policy lives: the file (embedded) or Redis, changed by compare-and-set."""

from __future__ import annotations

from pathlib import Path

import pytest
import redis
import yaml

from router.errors import PreconditionFailedError, PreconditionRequiredError
from router.ops.audit import AuditEntry, RedisAudit, SQLiteAudit
from router.ops.policy_file import PolicyDocument, document_from_text, read_document
from router.ops.policy_home import FileHome, RedisHome
from tests.redis_fixtures import RedisServer
from tests.router.conftest import small_policy_data


def version(number: int) -> PolicyDocument:
    return document_from_text(yaml.safe_dump(small_policy_data() | {"version": f"v{number}"}))


@pytest.fixture
def policy_file(tmp_path: Path) -> Path:
    path = tmp_path / "policy.yaml"
    path.write_text(version(1).text, encoding="utf-8")
    return path


def test_the_file_home_replaces_the_file_only_for_a_fresh_etag(policy_file: Path) -> None:
    home = FileHome(policy_file)
    before = home.read()
    committed: list[str] = []

    with pytest.raises(PreconditionRequiredError):
        home.replace(None, version(2), lambda doc: committed.append(doc.version))
    with pytest.raises(PreconditionFailedError, match="version v1"):
        home.replace('"stale"', version(2), lambda doc: committed.append(doc.version))
    replaced = home.replace(before.etag, version(2), lambda doc: committed.append(doc.version))

    assert replaced == before and committed == ["v1"]
    assert read_document(policy_file).version == "v2"
    assert home.read().etag == version(2).etag


def test_the_redis_home_starts_from_the_file_then_keeps_the_applied_policy(
    policy_file: Path, redis_server: RedisServer
) -> None:
    client = redis.Redis.from_url(redis_server.url)
    home = RedisHome(client, "test", policy_file)
    first = home.read()
    assert first.version == "v1", "nothing applied yet: the file"

    home.replace(first.etag, version(2), lambda doc: None)

    assert home.read().version == "v2"
    assert read_document(policy_file).version == "v1", "the file is left alone"
    with pytest.raises(PreconditionFailedError):
        home.replace(first.etag, version(3), lambda doc: None)
    home.close()


def entry(number: int) -> AuditEntry:
    return AuditEntry.of(
        "apply", version(number), version(number + 1), actor="ops", address="10.0.0.1",
        reason=f"change {number}",
    )  # fmt: skip


def test_audits_keep_entries_newest_first_in_sqlite_and_redis(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    for audit in (
        SQLiteAudit(tmp_path / "decisions.sqlite3"),
        RedisAudit(redis.Redis.from_url(redis_server.url), "test"),
    ):
        audit.append(entry(1))
        audit.append(entry(2))

        entries = audit.entries(limit=5)

        assert [e.reason for e in entries] == ["change 2", "change 1"]
        assert entries[0].text_after == version(3).text
        assert "-version: v2" in entries[0].diff and "+version: v3" in entries[0].diff
        audit.close()
