"""Settings of the decision log: refused at start-up when unusable, defaults under data_dir."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from router.settings import Settings


def test_the_log_lives_under_the_data_dir_by_default(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)

    assert settings.redis_url is None
    assert settings.decision_db_path == tmp_path / "decisions.sqlite3"
    assert settings.decision_spool_path == tmp_path / "decision-spool.sqlite3"
    assert Settings(spool_path=tmp_path / "s.db").decision_spool_path == tmp_path / "s.db"


def test_redis_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ROUTER_REDIS_URL", "redis://10.0.0.5:6379/2")
    monkeypatch.setenv("ROUTER_REDIS_PREFIX", "{router}")

    settings = Settings()

    assert (settings.redis_url, settings.redis_prefix) == ("redis://10.0.0.5:6379/2", "{router}")


def test_an_empty_redis_url_means_sqlite(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ROUTER_REDIS_URL", "")

    assert Settings().redis_url is None


@pytest.mark.parametrize(
    ("field", "value", "words"),
    [
        ("redis_url", "http://10.0.0.5:6379", "must be a redis://, rediss:// or unix:// URL"),
        ("redis_prefix", "router:", "not a usable key prefix"),
        ("redis_prefix", "my router", "not a usable key prefix"),
        ("redis_timeout_s", 0, "greater than 0"),
        ("spool_retry_max_s", -1, "greater than 0"),
        ("exploration_rate", 0.6, "less than or equal to 0.5"),
    ],
)
def test_unusable_log_settings_are_refused(field: str, value: object, words: str) -> None:
    with pytest.raises(ValidationError, match=words):
        Settings(**{field: value})


def test_batch_jobs_use_every_core_unless_told(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    monkeypatch.delenv("ROUTER_ENCODER_THREADS", raising=False)
    assert Settings().encoder_threads == 1
    assert Settings().for_batch().encoder_threads == min(os.cpu_count() or 1, 64)
    monkeypatch.setenv("ROUTER_ENCODER_THREADS", "1")
    assert Settings().for_batch().encoder_threads == 1


def test_the_encoder_setting_takes_auto_onnx_or_torch(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings().encoder == "auto"
    monkeypatch.setenv("ROUTER_ENCODER", "torch")
    assert Settings().encoder == "torch"
    monkeypatch.setenv("ROUTER_ENCODER", "tensorflow")
    with pytest.raises(ValidationError, match="auto"):
        Settings()
