"""``router doctor`` on the shipped policy, the local recipe over a real local upstream, and
the decision log's stores (a real redis-server)."""

from __future__ import annotations

import json
import re
import socket
from pathlib import Path

import pytest
from typer.testing import CliRunner

from router.cli.deps import CliDeps
from router.cli.main import app
from router.settings import Settings
from tests.redis_fixtures import RedisServer
from tests.upstream_server import UpstreamServer

runner = CliRunner()
REPO = Path(__file__).resolve().parents[3]
LOCAL_RECIPE = REPO / "examples" / "local-upstream.yaml"
PROVIDER_KEYS = ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GEMINI_API_KEY", "GOOGLE_API_KEY")


@pytest.fixture(autouse=True)
def _no_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (*PROVIDER_KEYS, "LOCAL_UPSTREAM_API_KEY"):
        monkeypatch.delenv(name, raising=False)


def deps(tmp_path: Path, **settings: object) -> CliDeps:
    config = Settings(data_dir=tmp_path / "var", **settings)  # type: ignore[arg-type]
    return CliDeps(settings=lambda: config)


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def test_the_shipped_policy_without_keys_names_each_tiers_missing_variable(
    tmp_path: Path,
) -> None:
    result = runner.invoke(app, ["doctor"], obj=deps(tmp_path), env={"COLUMNS": "80"})

    assert result.exit_code == 1
    text = " ".join(result.stdout.split())
    for tier, variable in [
        ("fast", "OPENAI_API_KEY"),
        ("standard", "OPENAI_API_KEY"),
        ("reasoning", "ANTHROPIC_API_KEY"),
        ("deep", "ANTHROPIC_API_KEY"),
    ]:
        assert f"tier '{tier}':" in text and f"needs {variable}, which is not set" in text
    shipped = (Settings().models_dir / "CURRENT").read_text().strip()
    assert f"{shipped} (from models/CURRENT)" in text
    assert re.search(r"apgr\[all\] 0\.\d{3}", text)
    assert "version 2026-12-06.1" in text
    assert "sqlite" in text and "created at first start" in text


def test_the_local_recipe_with_probe_answers_on_every_tier(
    tmp_path: Path, upstream: UpstreamServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ROUTER_LOCAL_UPSTREAM", upstream.url)

    result = runner.invoke(
        app, ["doctor", "--probe", "--policy", str(LOCAL_RECIPE)], obj=deps(tmp_path)
    )

    assert result.exit_code == 0, result.output
    text = " ".join(result.stdout.split())
    for tier in ("fast", "standard", "reasoning", "deep"):
        assert re.search(rf"{tier} openai/local-\w+ at {re.escape(upstream.url)}", text)
    assert len(re.findall(r"answered in \d+ ms", text)) == 7  # 4 tiers + 3 fallbacks
    assert "LOCAL_UPSTREAM_API_KEY not set (a local server needs none)" in text
    assert sorted({r.model for r in upstream.requests}) == [
        "local-medium",
        "local-reasoner",
        "local-small",
    ], "one call per distinct model and address"


def test_a_stopped_local_upstream_fails_the_probe_with_its_cause(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ROUTER_LOCAL_UPSTREAM", f"http://127.0.0.1:{closed_port()}/v1")

    result = runner.invoke(
        app, ["doctor", "--probe", "--json", "--policy", str(LOCAL_RECIPE)], obj=deps(tmp_path)
    )

    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert len(report["problems"]) == 4
    assert all("connection refused" in problem for problem in report["problems"])
    probe = report["checks"][0]["probe"]
    assert probe["ok"] is False and probe["latency_ms"] < 3000


def test_the_redis_store_is_checked_with_a_ping(
    tmp_path: Path, redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ROUTER_LOCAL_UPSTREAM", "http://127.0.0.1:8000/v1")
    policy = ["--policy", str(LOCAL_RECIPE), "--json"]
    up = runner.invoke(app, ["doctor", *policy], obj=deps(tmp_path, redis_url=redis_server.url))
    down_url = f"redis://127.0.0.1:{closed_port()}/0"
    down = runner.invoke(app, ["doctor", *policy], obj=deps(tmp_path, redis_url=down_url))

    assert up.exit_code == 0 and json.loads(up.stdout)["store"]["reachable"] is True
    store = json.loads(down.stdout)["store"]
    assert store["reachable"] is False and store["detail"].startswith("no answer")
    assert down.exit_code == 0, "the spool keeps records while the store is away"


def test_a_policy_that_will_not_load_is_a_problem(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("version: x\ntiers: []\n", encoding="utf-8")

    result = runner.invoke(app, ["doctor", "--policy", str(broken)], obj=deps(tmp_path))

    assert result.exit_code == 1
    assert "policy: " in " ".join(result.stdout.split())


def test_a_version_trained_on_user_data_shows_its_own_headline_figures(tmp_path: Path) -> None:
    from classifiers.encoder import HashingEncoder
    from tests.training.user_rows import user_rows, write_user_file
    from training.train import train_seed

    models = tmp_path / "models"
    data = write_user_file(tmp_path / "mine.jsonl", user_rows(200))
    train_seed(data, models, HashingEncoder(16), cache_dir=tmp_path / "c", version="mine")
    (models / "CURRENT").write_text("mine\n", encoding="utf-8")

    result = runner.invoke(app, ["doctor", "--json"], obj=deps(tmp_path, models_dir=models))

    classifier = json.loads(result.stdout)["classifier"]
    assert classifier["version"] == "mine"
    assert set(classifier["figures"]) == {
        "spearman_outcome_gain[user]",
        "auroc_outcome_gain[user]",
    }


def test_a_model_without_a_price_is_a_warning_until_the_policy_prices_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ROUTER_LOCAL_UPSTREAM", f"http://127.0.0.1:{closed_port()}/v1")
    recipe = LOCAL_RECIPE.read_text(encoding="utf-8")
    priced = tmp_path / "priced.yaml"
    priced.write_text(
        recipe.replace(
            "    timeout_s:",
            "    price: {input_per_mtok: 0.05, output_per_mtok: 0.2}\n    timeout_s:",
        ),
        encoding="utf-8",
    )

    unpriced_run = runner.invoke(
        app, ["doctor", "--json", "--policy", str(LOCAL_RECIPE)], obj=deps(tmp_path)
    )
    priced_run = runner.invoke(
        app, ["doctor", "--json", "--policy", str(priced)], obj=deps(tmp_path)
    )

    assert unpriced_run.exit_code == 0, unpriced_run.output
    warnings = json.loads(unpriced_run.stdout)["warnings"]
    assert sorted(w.split(": ")[1].split()[0] for w in warnings) == [
        "openai/local-medium",
        "openai/local-reasoner",
        "openai/local-small",
    ]
    assert all("spend caps never count them" in w for w in warnings)
    assert json.loads(priced_run.stdout)["warnings"] == []
