"""router logs export: the decision log as training.logs reads it, from either store."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner, Result

from records import EXPORT_FIELDS, ExportRow, Feedback, FeedbackEvent, Verifier
from router.cli.deps import CliDeps
from router.cli.main import app
from router.log.store import open_store
from router.settings import Settings
from tests.redis_fixtures import RedisServer
from tests.router.conftest import RECORD_START, decision_record
from training.logs import read_logs, row_outcome, row_vector

Export = Callable[..., Result]


@pytest.fixture(params=["sqlite", "redis"])
def settings(request: pytest.FixtureRequest, tmp_path: Path, policy_path: Path) -> Settings:
    """Settings for each store, with ten decisions (req_0 .. req_9, a second apart) and feedback
    on req_1 (two events) and req_2 (a verifier)."""
    redis_url = None
    if request.param == "redis":
        redis_url = request.getfixturevalue("redis_server").url
    config = Settings(
        models_dir=tmp_path,
        policy_path=policy_path,
        data_dir=tmp_path / "data",
        redis_url=redis_url,
    )
    store = open_store(config)
    store.append_decisions([decision_record(n) for n in range(10)])
    for n, request_id, fields in (
        (1, "req_1", {"outcome": "failure", "source": "user"}),
        (2, "req_1", {"rating": 0.5}),
        (3, "req_2", {"verifier": Verifier(name="tests", passed=True)}),
    ):
        store.append_feedback(
            Feedback(
                id=f"fb_{n}",
                request_id=request_id,
                time=RECORD_START + timedelta(minutes=n),
                **fields,
            )
        )
    store.close()
    return config


@pytest.fixture
def export(settings: Settings, tmp_path: Path) -> Export:
    def run(*options: str, out: Path | None = None) -> Result:
        target = out or tmp_path / "logs.jsonl"
        args = ["logs", "export", "--out", str(target), *options]
        return CliRunner().invoke(app, args, obj=CliDeps(settings=lambda: settings))

    return run


def rows(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_every_decision_is_one_row_in_the_training_format(export: Export, tmp_path: Path) -> None:
    result = export()

    assert result.exit_code == 0, result.output
    assert "exported 10 decisions (2 with feedback)" in result.output
    exported = rows(tmp_path / "logs.jsonl")
    assert [row["request_id"] for row in exported] == [f"req_{n}" for n in range(10)]
    for row in exported:
        assert set(row) == set(ExportRow.model_fields)
        assert set(row) == EXPORT_FIELDS | {"feedback"}
        ExportRow.model_validate(row)


def test_a_row_carries_the_record_as_logged(export: Export, tmp_path: Path) -> None:
    export()

    row = ExportRow.model_validate(rows(tmp_path / "logs.jsonl")[3])
    record = decision_record(3)

    expected = np.frombuffer(record.embedding, dtype="<f2").astype(np.float32)
    assert np.array_equal(row_vector(row, 384), expected)
    assert row.features == record.features
    assert row.time == record.time
    assert (row.prompt, row.prompt_hash) == (record.prompt, record.prompt_hash)
    assert (row.tier, row.tier_index, row.choice_probability) == ("mid", 1, 0.9)
    assert (row.score, row.status, row.cost_usd) == (record.score, "ok", record.cost_usd)


def test_feedback_is_joined_oldest_first(export: Export, tmp_path: Path) -> None:
    export()

    by_id = {row["request_id"]: row for row in rows(tmp_path / "logs.jsonl")}

    first, second = (FeedbackEvent.model_validate(e) for e in by_id["req_1"]["feedback"])
    assert (first.outcome, first.source, second.rating) == ("failure", "user", 0.5)
    assert by_id["req_2"]["feedback"][0]["verifier"] == {"name": "tests", "passed": True}
    assert set(by_id["req_2"]["feedback"][0]) == {
        "outcome",
        "rating",
        "verifier",
        "source",
        "time",
        "step",
    }
    assert by_id["req_3"]["feedback"] == []
    assert row_outcome(ExportRow.model_validate(by_id["req_1"])) is False


def test_training_reads_the_export(export: Export, tmp_path: Path) -> None:
    export()

    data = read_logs(tmp_path / "logs.jsonl")

    assert data.summary.rows == 10
    assert data.summary.labelled == 2


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        (["--since", "2026-11-29T12:00:03Z"], list(range(3, 10))),
        (["--until", "2026-11-29T12:00:03+00:00"], [0, 1, 2]),
        (["--since", "2026-11-29T12:00:02", "--until", "2026-11-29T12:00:05"], [2, 3, 4]),
        (["--since", "2026-11-29T13:00:02+01:00", "--until", "2026-11-29T12:00:04Z"], [2, 3]),
        (["--since", "2026-11-30"], []),
    ],
)
def test_since_and_until_bound_the_rows(
    export: Export, tmp_path: Path, options: list[str], expected: list[int]
) -> None:
    result = export(*options)

    assert result.exit_code == 0, result.output
    ids = [row["request_id"] for row in rows(tmp_path / "logs.jsonl")]
    assert ids == [f"req_{n}" for n in expected]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--since", "yesterday"], "--since: 'yesterday' is not an ISO 8601 date or time"),
        (["--until", "2026-13-01"], "--until: '2026-13-01' is not an ISO 8601"),
        (["--since", "2026-11-30", "--until", "2026-11-29"], "the window is empty"),
    ],
)
def test_a_bad_window_exits_2_and_writes_nothing(
    export: Export, tmp_path: Path, options: list[str], message: str
) -> None:
    result = export(*options)

    assert result.exit_code == 2
    assert message in result.output
    assert not (tmp_path / "logs.jsonl").exists()


def test_a_missing_output_directory_exits_2(export: Export, tmp_path: Path) -> None:
    result = export(out=tmp_path / "absent" / "logs.jsonl")

    assert result.exit_code == 2
    assert "the output directory does not exist" in result.output


def test_an_unreachable_store_exits_2_and_keeps_the_old_file(
    tmp_path: Path, policy_path: Path, redis_server: RedisServer
) -> None:
    out = tmp_path / "logs.jsonl"
    out.write_text("the previous export\n", encoding="utf-8")
    redis_server.kill()
    settings = Settings(
        models_dir=tmp_path,
        policy_path=policy_path,
        redis_url=redis_server.url,
        redis_timeout_s=0.5,
    )

    result = CliRunner().invoke(
        app, ["logs", "export", "--out", str(out)], obj=CliDeps(settings=lambda: settings)
    )

    assert result.exit_code == 2
    assert "error: Redis: reading router:feedback" in result.output
    assert out.read_text(encoding="utf-8") == "the previous export\n"
    assert [path.name for path in tmp_path.iterdir() if path.name.startswith(".logs")] == []
